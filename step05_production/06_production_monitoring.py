# %% [markdown]
"""
Production monitoring: Prometheus alert rules unit-tested with promtool, Alertmanager routing checked with amtool.

What you learn
  - how the KPIs (availability 99.9%, search p95 < 100 ms, error rate < 0.1%)
    become alert rules (monitoring/alerts.yml);
  - `promtool test rules`: each alert fires on the series meant to trigger it
    and stays silent otherwise (monitoring/alerts_test.yml) — and a broken
    rule is caught by `promtool check rules`;
  - `amtool`: the Alertmanager config is valid, critical alerts page the
    on-call, warnings go to the team channel;
  - the Grafana dashboard (monitoring/grafana) and the compose `monitoring` profile.

Needs promtool and amtool (Debian packages prometheus and prometheus-alertmanager;
`.ci/run` installs them). Without them the lesson says which is missing and skips.

Prerequisites  Step 4, lesson 06
Run            python step05_production/06_production_monitoring.py
Docs           docs/step05_production.md, section "06 운영 모니터링"
"""

# %%
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import cli
from common.config import REPO_ROOT
from common.report import heading, table

import yaml

MONITORING = REPO_ROOT / "monitoring"
# %% [markdown]
# ## Alerts and the KPIs they guard

# %%
KPIS = {
    "MilvusDown": "availability 99.9% (≤ 43 min down a month)",
    "MilvusSearchP95High": "search p95 < 100 ms",
    "AppSearchP95High": "search p95 < 100 ms (as the app sees it)",
    "MilvusErrorRateHigh": "error rate < 0.1%",
    "MilvusMemoryPressure": "capacity headroom",
    "AppSearchThroughputLow": "throughput (traffic still arriving)",
}


# %% [markdown]
# ## promtool and amtool


# %%
def run(*command: str, cwd: Path = MONITORING) -> tuple[int, str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    return done.returncode, (done.stdout + done.stderr).strip()


def missing_tools() -> list[str]:
    return [tool for tool in ("promtool", "amtool") if shutil.which(tool) is None]


def amtool_checks() -> tuple[dict, dict]:
    """amtool: the Alertmanager config, and which receiver two alerts are routed to."""
    heading("3. amtool: config and routing")
    am = {"amtool check-config alertmanager.yml": run("amtool", "check-config", "alertmanager.yml")}
    routes = {}
    for labels in (
        ["severity=critical", "alertname=MilvusDown"],
        ["severity=warning", "alertname=MilvusSearchP95High"],
    ):
        code, out = run("amtool", "config", "routes", "test", "--config.file=alertmanager.yml", *labels)
        receivers = [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("Warning")]
        routes[" ".join(labels)] = receivers[-1] if code == 0 and receivers else f"error: {out[:80]}"
    table([{"command": c, "exit": code} for c, (code, _) in am.items()])
    table([{"alert labels": k, "routed to": v} for k, v in routes.items()])
    return am, routes


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.parse_args(argv)

    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = [(r["alert"], r["labels"]["severity"], r.get("for", "0s")) for g in rules["groups"] for r in g["rules"]]
    heading("1. Alerts and the KPIs they guard")
    table([{"alert": a, "severity": s, "for": f, "KPI": KPIS.get(a, "-")} for a, s, f in alerts])

    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "milvus.json").read_text())
    print(
        f"\nGrafana dashboard '{dashboard['title']}': {len(dashboard['panels'])} panels, "
        f"each with a PromQL target: {all(p['targets'][0]['expr'] for p in dashboard['panels'])}"
    )

    missing = missing_tools()
    if missing:
        reason = f"skipped: needs {', '.join(missing)} (apt-get install prometheus prometheus-alertmanager)"
        print(reason)
        return {"headline": reason, "alerts": [a for a, _, _ in alerts], "skipped": [f"tools: {reason}"]}

    heading("2. promtool: config, rules, and rule unit tests")
    # docs:begin promtool
    checks = {}
    checks["promtool check config prometheus.yml"] = run("promtool", "check", "config", "prometheus.yml")
    checks["promtool test rules alerts_test.yml"] = run("promtool", "test", "rules", "alerts_test.yml")
    # docs:end
    with tempfile.TemporaryDirectory() as tmp:
        broken = Path(tmp) / "alerts.yml"
        broken.write_text(
            (MONITORING / "alerts.yml").read_text().replace('up{job="milvus"} == 0', 'up{job="milvus" == 0', 1)
        )
        checks["promtool check rules <broken copy>"] = run("promtool", "check", "rules", str(broken))
    table(
        [
            {"command": c, "exit": code, "last line": out.splitlines()[-1][:90] if out else ""}
            for c, (code, out) in checks.items()
        ]
    )

    am, routes = amtool_checks()

    ok = (
        checks["promtool check config prometheus.yml"][0] == 0
        and checks["promtool test rules alerts_test.yml"][0] == 0
        and am["amtool check-config alertmanager.yml"][0] == 0
    )
    return {
        "headline": f"{len(alerts)} alerts; promtool tests {'pass' if ok else 'FAIL'}; broken rule caught: "
        f"{checks['promtool check rules <broken copy>'][0] != 0}",
        "alerts": [a for a, _, _ in alerts],
        "config_ok": checks["promtool check config prometheus.yml"][0] == 0,
        "rule_tests_ok": checks["promtool test rules alerts_test.yml"][0] == 0,
        "broken_rule_caught": checks["promtool check rules <broken copy>"][0] != 0,
        "alertmanager_ok": am["amtool check-config alertmanager.yml"][0] == 0,
        "routes": routes,
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
