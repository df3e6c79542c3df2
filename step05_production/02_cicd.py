# %% [markdown]
"""
CI/CD: a GitHub Actions pipeline for a Milvus-backed service, validated against the workflow schema.

What you learn
  - the stages: lint → unit tests → integration tests against a Milvus
    service container (with a /healthz health check) → image build →
    staging → a manual gate → production;
  - how to check a workflow offline with the real schema
    (`check-jsonschema --builtin-schema vendor.github-workflows`), and that a
    broken workflow is refused.

Prerequisites  none
Run            python step05_production/02_cicd.py
Docs           docs/step05_production.md, section "02 CI/CD"
"""

# %%
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from common import cli
from common.config import REPO_ROOT
from common.report import heading, table

import yaml

WORKFLOW = Path(__file__).resolve().parent / "cicd" / "search-service.yml"
COURSE_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "test.yml"
BROKEN = "a copy whose lint job lost runs-on"


# %% [markdown]
# ## Validation against the GitHub workflow schema


# %%
# docs:begin validate
def check_workflow(path: Path) -> tuple[bool, str]:
    """Validate with check-jsonschema's vendored GitHub workflow schema (no network needed)."""
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line.strip().replace(str(path), path.name) for line in (done.stdout + done.stderr).strip().splitlines()]
    return done.returncode == 0, (lines[-1] if done.returncode == 0 else " ".join(lines[1:3]))[:140]


# docs:end


# %% [markdown]
# ## The pipeline, stage by stage


# %%
def stages(workflow: dict) -> list[dict]:
    """Jobs in dependency order, with what gates each one."""
    jobs, order, done = workflow["jobs"], [], set()
    while len(order) < len(jobs):
        for name, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if name not in done and all(n in done for n in needs):
                services = ", ".join(s.get("image", "") for s in job.get("services", {}).values())
                order.append(
                    {
                        "job": name,
                        "after": ", ".join(needs) or "-",
                        "environment": job.get("environment", "-"),
                        "services": services or "-",
                        "only on main": "refs/heads/main" in str(job.get("if", "")),
                    }
                )
                done.add(name)
    return order


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.parse_args(argv)

    heading("1. The pipeline, stage by stage")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    order = stages(workflow)
    table(order)
    gate = next(s for s in order if s["job"] == "deploy-production")["environment"]
    print(
        f"deploy-production runs in the '{gate}' environment: give it required reviewers in the repo settings,\n"
        "and the job waits for a person to approve — the manual gate."
    )

    heading("2. Validation against the GitHub workflow schema")
    results = {}
    for path in (WORKFLOW, COURSE_WORKFLOW):
        results[path.name] = check_workflow(path)
    # Edit the text, not a parsed copy: YAML 1.1 reads the key `on:` as the boolean true.
    text = WORKFLOW.read_text()
    broken = text.replace("  lint:\n    runs-on: ubuntu-latest\n", "  lint:\n", 1)
    assert broken != text
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "broken.yml"
        path.write_text(broken)
        results[BROKEN] = check_workflow(path)
    table([{"workflow": name, "valid": ok, "check-jsonschema says": text} for name, (ok, text) in results.items()])

    services = workflow["jobs"]["integration"]["services"]["milvus"]
    return {
        "headline": f"{len(order)} stages; "
        f"workflows valid: {results[WORKFLOW.name][0] and results[COURSE_WORKFLOW.name][0]}; "
        f"broken copy refused: {not results[BROKEN][0]}",
        "stages": [s["job"] for s in order],
        "gate_environment": gate,
        "milvus_service_image": services["image"],
        "milvus_service_healthcheck": "9091/healthz" in services["options"],
        "valid": {name: ok for name, (ok, _) in results.items()},
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
