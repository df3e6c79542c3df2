"""Checks for step 5: an alert rule (judged by promtool), a stable A/B assignment, a blue-green alias switch.

Each check states, above it, what a correct answer must satisfy; the check measures every clause.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course.grading.common import Context, Failed, NotGradable, Problem, Result, fill, fresh, kind, shorten
from course.grading.sandbox import CLIENT

import numpy as np
import yaml

# 5.1 — correct when: the rule is named AppSearchP99High with label severity "page"; promtool loads it
# (annotation templates included: their text is not compared, any wording passes); and on series that separate
# it from near misses it fires exactly where the task's rule does: the p99 (not p95, not p99.9) of the whole
# app's histogram (all its instances, job="course-app" only) above 0.25 s (not 0.2, not 0.3), for 5 minutes
# (not sooner, not later). Each case is one promtool test that expects no alert: it fails when the rule fires.
BUCKETS = ("0.1", "0.2", "0.25", "0.3", "0.5", "1", "+Inf")
SHAPES = {  # searches per minute in each bucket (not cumulative); see the p99 each gives in the comments
    "fast": {"0.1": 1000},  # p99 0.099 s
    "p99_0.267": {"0.1": 985, "0.3": 15},  # p99 0.267 s (above 0.25, below 0.3); p95 0.096 s
    "p99_0.217": {"0.1": 985, "0.25": 15},  # p99 0.217 s (above 0.2, below 0.25)
    "p999_only": {"0.1": 995, "0.5": 5},  # p99 0.1 s, p99.9 0.46 s
    "slow": {"0.5": 1000},  # every search 0.3–0.5 s
    "trickle_slow": {"0.5": 5},  # a small instance, all slow
}
STEP_S = 15  # scrape interval of the test series


def series(labels: str, phases: list[tuple[int, str]], scale: int) -> list[dict]:
    """Cumulative bucket counters for phases of (minutes, shape), one sample every STEP_S seconds."""
    out = []
    for le in BUCKETS:
        values, total = [], 0.0
        for minutes, shape in phases:
            per_step = sum(c for b, c in SHAPES[shape].items() if float(b) <= float(le)) * scale * STEP_S / 60
            for _ in range(minutes * 60 // STEP_S):
                values.append(total)
                total += per_step
        values.append(total)
        name = f'course_search_latency_seconds_bucket{{{labels},le="{le}"}}'
        out.append({"series": name, "values": " ".join(f"{v:g}" for v in values)})
    return out


def alert_cases(rng) -> list[tuple[str, str, list[dict], str, bool]]:
    """(what it separates (en), (ko), series, eval time, must fire)."""
    scale, onset = int(rng.integers(1, 4)), int(rng.integers(6, 12))
    app = 'job="course-app",instance="app-1"'
    steady = {shape: series(app, [(30, shape)], scale) for shape in ("fast", "p99_0.267", "p99_0.217", "p999_only")}
    step = series(app, [(onset, "fast"), (30 - onset, "slow")], scale)
    other = series('job="other-app",instance="x"', [(30, "slow")], scale)
    small = series('job="course-app",instance="app-2"', [(30, "trickle_slow")], scale)
    return [
        (
            "p99 0.27 s: must fire (a p95 rule or a 0.3 s threshold stays silent)",
            "p99 0.27초: 울려야 함",
            steady["p99_0.267"],
            "20m",
            True,
        ),
        (
            "p99 0.22 s: must stay silent (a 0.2 s threshold fires)",
            "p99 0.22초: 조용해야 함",
            steady["p99_0.217"],
            "20m",
            False,
        ),
        (
            "p99 0.1 s, p99.9 0.46 s: must stay silent (a p99.9 rule fires)",
            "p99 0.1초: 조용해야 함",
            steady["p999_only"],
            "20m",
            False,
        ),
        ("all fast: must stay silent", "모두 빠름: 조용해야 함", steady["fast"], "20m", False),
        (
            f"slow from minute {onset}: silent 4.5 min later (for: 5m)",
            f"{onset}분부터 느림: 4.5분 뒤에는 조용해야 함",
            step,
            f"{onset * 60 + 270}s",
            False,
        ),
        (
            f"slow from minute {onset}: firing 5.5 min later (for: 5m)",
            f"{onset}분부터 느림: 5.5분 뒤에는 울려야 함",
            step,
            f"{onset * 60 + 330}s",
            True,
        ),
        (
            "another job slow, the app fast: must stay silent (job selector)",
            "다른 job만 느림: 조용해야 함",
            steady["fast"] + other,
            "20m",
            False,
        ),
        (
            "one small instance of the app slow, the app's p99 fast: must stay silent (the whole app's p99)",
            "앱 전체 p99는 빠름: 조용해야 함",
            steady["fast"] + small,
            "20m",
            False,
        ),
    ]


def promtool_fires(promtool: str, rules: str, name: str, input_series: list[dict], at: str) -> bool:
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": f"{STEP_S}s",
        "tests": [
            {
                "interval": f"{STEP_S}s",
                "input_series": input_series,
                "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": []}],
            }
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.yml").write_text(rules)
        (Path(tmp) / "test.yml").write_text(yaml.safe_dump(test))
        done = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp, capture_output=True, text=True)
    if done.returncode != 0 and "got:" not in done.stdout + done.stderr:
        raise Failed(
            f"promtool could not run the rule: {shorten(done.stdout + done.stderr)}",
            "promtool이 규칙을 실행하지 못했습니다",
        )
    return done.returncode != 0


def rule_problems(rule) -> list[Problem]:
    if not isinstance(rule, dict):
        return [
            Problem(
                f"returned {kind(rule)}, expected a dict (one entry of an alerts.yml rules list)",
                f"{kind(rule)}을(를) 돌려줌: dict가 필요합니다",
            )
        ]
    problems = []
    if rule.get("alert") != "AppSearchP99High":
        problems.append(
            Problem(
                f"alert is named {rule.get('alert')!r}, expected 'AppSearchP99High'",
                "경고 이름이 AppSearchP99High가 아닙니다",
            )
        )
    labels = rule.get("labels")
    if not isinstance(labels, dict) or labels.get("severity") != "page":
        have = labels.get("severity") if isinstance(labels, dict) else labels
        problems.append(
            Problem(f"label severity is {have!r}, expected 'page'", f"severity 라벨이 {have!r}: 'page'여야 합니다")
        )
    return problems


def check_alert(ctx: Context) -> Result:
    promtool = shutil.which("promtool")
    if promtool is None:
        raise NotGradable("needs promtool (apt-get install prometheus, as .ci/run does)")
    rule = ctx.answer().call(timeout=ctx.timeout)
    problems = rule_problems(rule)
    if problems:
        return Result("name/labels wrong", "AppSearchP99High, severity page", problems)
    rules = yaml.safe_dump({"groups": [{"name": "exercise", "rules": [rule]}]})
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.yml").write_text(rules)
        checked = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp, capture_output=True, text=True)
    if checked.returncode != 0:
        raise Failed(
            f"promtool refuses the rule: {shorten(checked.stdout + checked.stderr)}", "promtool이 규칙을 거부합니다"
        )
    cases = alert_cases(ctx.rng)
    with ThreadPoolExecutor(max_workers=4) as pool:
        fired = list(pool.map(lambda c: promtool_fires(promtool, rules, rule["alert"], c[2], c[3]), cases))
    for (en, ko, _, _, must), did in zip(cases, fired):
        if did != must:
            problems.append(
                Problem(
                    f"{en}: it {'fired' if did else 'stayed silent'}",
                    f"{ko}: {'울렸습니다' if did else '울리지 않았습니다'}",
                )
            )
    right = sum(did == c[4] for c, did in zip(cases, fired))
    return Result(
        f"promtool cases right {right}/{len(cases)}",
        f"{len(cases)}/{len(cases)} (fires exactly as the task's rule)",
        problems,
    )


# 5.2 — correct when: arm() returns exactly "control" or "treatment"; for every share asked (0, 0.05, 0.2, 0.5,
# 0.8, 1 and one drawn per run) the treatment share over 30,000 users is within 0.012 of it (0 and 1 exactly);
# the same user gets the same arm in another process with another hash seed.
def check_ab(ctx: Context) -> Result:
    rng = ctx.rng
    users = [f"user-{int(u)}" for u in rng.choice(10**9, size=30_000, replace=False)] + ["사용자-7", "ü-1"]
    shares = [0.0, 0.05, 0.2, 0.5, 0.8, 1.0, round(float(rng.uniform(0.1, 0.9)), 3)]
    first = ctx.answer(hash_seed="1")
    arms = {s: first.map([[u, s] for u in users], timeout=ctx.timeout) for s in shares}
    values = {a if isinstance(a, str) else kind(a) for got in arms.values() for a in got}
    if values - {"control", "treatment"}:
        raise Failed(
            f"arm() returned {sorted(values - {'control', 'treatment'})[:3]}, expected 'control' or 'treatment'",
            "arm()은 'control' 또는 'treatment'만 돌려줘야 합니다",
        )
    problems, measured = [], []
    for s in shares:
        share = float(np.mean([a == "treatment" for a in arms[s]]))
        measured.append(f"{s:g}→{share:.3f}")
        tolerance = 0 if s in (0.0, 1.0) else 0.012
        if abs(share - s) > tolerance:
            problems.append(
                Problem(
                    f"share={s:g}: treatment share {share:.3f} (expected {s:g} ± {tolerance:g})",
                    f"share={s:g}: treatment 비율 {share:.3f} (기대 {s:g} ± {tolerance:g})",
                )
            )
    other = ctx.answer(hash_seed="2")
    sample = users[:2000]
    for s in (0.2, 0.5):
        again = other.map([[u, s] for u in sample], timeout=ctx.timeout)
        moved = sum(a != b for a, b in zip(arms[s][:2000], again))
        if moved:
            problems.append(
                Problem(
                    f"share={s:g}: {moved} of 2000 users got another arm in another process",
                    f"share={s:g}: 다른 프로세스에서 2000명 중 {moved}명의 배정이 바뀌었습니다",
                )
            )
            break
    return Result("shares " + ", ".join(measured), "each share ± 0.012; the same arm in every process", problems)


# 5.3 — correct when: after the first call the alias (which did not exist) serves the first collection; after a
# second and a third call it serves the new one, without an error; the alias is never dropped (searches through
# it would fail in between) and no collection is dropped (so you can switch back).
def alias_target(client, alias: str) -> set:
    return {r["id"] for r in client.query(collection_name=alias, filter="id >= 0", output_fields=["id"], limit=100)}


def check_alias(ctx: Context) -> Result:
    client, suffix = ctx.client, int(ctx.rng.integers(1000, 9999))
    alias, old, new = f"ex_5_3_live_{suffix}", "ex_5_3_v1", "ex_5_3_v2"
    vectors = np.random.default_rng(ctx.seed).standard_normal((20, 8)).astype(np.float32)
    for name, ids in ((old, range(10)), (new, range(100, 110))):
        fresh(client, name, 8)
        fill(client, name, vectors[:10], ids=ids)
        client.load_collection(name)
    answer, problems = ctx.answer(), []
    answer.call(CLIENT, alias, old, timeout=ctx.timeout)  # no alias yet: create it
    first = alias_target(client, alias)
    answer.call(CLIENT, alias, new, timeout=ctx.timeout)  # move it
    answer.call(CLIENT, alias, new, timeout=ctx.timeout)  # and again: still fine
    second = alias_target(client, alias)
    if first != set(range(10)):
        problems.append(
            Problem(
                "after the first call the alias does not serve the first collection",
                "첫 호출 뒤 별칭이 첫 컬렉션을 가리키지 않습니다",
            )
        )
    if second != set(range(100, 110)):
        problems.append(
            Problem(
                "after the switch the alias does not serve the new collection",
                "전환 뒤 별칭이 새 컬렉션을 가리키지 않습니다",
            )
        )
    dropped = sorted({c["method"] for c in answer.calls if c["method"] in ("drop_alias", "drop_collection")})
    if dropped:
        problems.append(
            Problem(
                f"called {', '.join(dropped)}: searches through the alias fail in between, or there is no way back",
                f"{', '.join(dropped)} 호출: 그 사이 별칭 검색이 실패하거나 되돌릴 수 없습니다",
            )
        )
    if not client.has_collection(old):
        problems.append(Problem("the old collection is gone", "옛 컬렉션이 지워졌습니다"))
    with_alias = client.list_aliases(collection_name=new).get("aliases", [])
    if alias in with_alias:
        client.drop_alias(alias=alias)
    return Result(
        f"first → v1 {first == set(range(10))}; → v2 {second == set(range(100, 110))}",
        "True; True; nothing dropped",
        problems,
    )
