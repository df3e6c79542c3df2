# %% [markdown]
"""
Upgrade preflight: what moving this deployment to Milvus 3.0 must handle, checked before anything changes.

What you learn
  - the supported upgrade path: a 2.5 deployment goes to 2.5.16 or later with
    mixCoord enabled before 2.6, and 2.6 goes to 3.0; the message queue type is
    kept through each upgrade (switching it is a separate, later operation);
  - which index types this engine holds (list_collections / list_indexes /
    describe_index) and what 3.0 does with each;
  - the message queue and WAL that the course's Helm values choose, against
    the chart's own defaults (chart 5.0.19 defaults cluster mode to Pulsar);
  - the Helm values the upgrade proposes (the image tag, and 3.0 settings in
    extraConfigFiles, since no published chart has 3.0-specific keys), checked
    key by key against the chart with lesson 5.1's check — a misspelt key is
    named, because Helm drops unknown keys without a word;
  - Storage V3 and the index-version opt-ins: what each changes and from which
    point a rollback to 2.6 is no longer possible;
  - on Milvus Lite: there is nothing to upgrade in place; the data moves to a
    3.0 server by export and re-insert or by bulk import.

Sources: the Milvus docs' upgrade pages for v2.6.x and v3.0.x (upgrade_milvus_cluster-helm.md),
the v3.0.0 release notes ("Compatibility and behavior notes"), the Storage V3 page
(v3.0.x), milvus-backup's README (restore only to the same or a newer version).

Prerequisites  Lesson 5.1 (Helm values and the chart key check), lesson 4.5 (backups)
Run            python step05_production/07_upgrade_preflight.py [--target 3.0.2] [--chart zilliztech/milvus]
Docs           docs/step05_production.md, section "07 업그레이드 사전 점검"
"""

# %%
from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path

from common import cli
from common.engine import parse_version
from common.errors import BadInput
from common.report import heading, table

import yaml

HERE = Path(__file__).resolve().parent
K8S = HERE / "k8s"
CHART_VERSION = "5.0.19"  # the chart the course's values are written for (appVersion 2.6.15)
MIX_COORD_MINIMUM = (2, 5, 16)  # v2.6.x upgrade page: 2.5.16+ with mixCoord before 2.6
VALIDATED_26 = "2.6.20"  # v3.0.x Helm upgrade page: validated from 2.6.20 to 3.0.0
# What 3.0 does with each index type (v3.0.x index pages and the v3.0.0 release notes).
INDEX_STATUS = {
    "FLAT": "kept; no rebuild",
    "IVF_FLAT": "kept; no rebuild",
    "IVF_SQ8": "kept; no rebuild",
    "IVF_PQ": "kept; no rebuild",
    "HNSW": "kept; no rebuild",
    "HNSW_SQ": "kept; no rebuild",
    "SCANN": "kept; no rebuild",
    "DISKANN": "kept; no rebuild",
    "AUTOINDEX": "kept; the server picks the type",
    "SPARSE_INVERTED_INDEX": "kept; SINDI becomes the default only after dataCoord.targetVecIndexVersion is raised",
    "SPARSE_WAND": "kept; SINDI becomes the default only after dataCoord.targetVecIndexVersion is raised",
    "INVERTED": "kept; newer scalar versions only after dataCoord.targetScalarIndexVersion is raised",
    "Trie": "kept (v3.0.x index-explained lists it); INVERTED is the recommended VARCHAR index",
    "STL_SORT": "kept; no rebuild",
    "BITMAP": "kept; no rebuild",
}
# The 3.0 settings an upgrade may turn on later, each with what it costs (v3.0.0 release notes, Storage V3 page).
OPT_INS = (
    {
        "setting": "dataCoord.targetVecIndexVersion: 10",
        "default in 3.0": "off (older index version)",
        "effect": "new vector index algorithms (e.g. SINDI) on rebuilt indexes",
        "rollback to 2.6": "indexes rebuilt at the new version may not load on 2.6: treat as one-way",
    },
    {
        "setting": "dataCoord.targetScalarIndexVersion: 4",
        "default in 3.0": "off (older index version)",
        "effect": "new scalar index versions on rebuilt indexes",
        "rollback to 2.6": "indexes rebuilt at the new version may not load on 2.6: treat as one-way",
    },
    {
        "setting": "common.storage.useLoonFFI: true",
        "default in 3.0": "false (Storage V3 off)",
        "effect": "new writes and compaction output in Storage V3; needed by snapshots, TEXT fields",
        "rollback to 2.6": "impossible once Storage V3 data is written",
    },
)


def kubernetes_lesson():
    """Lesson 5.1, whose chart key check this lesson reuses (a lesson file cannot be imported by name)."""
    spec = importlib.util.spec_from_file_location("lesson_5_1", HERE / "01_kubernetes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# %% [markdown]
# ## The path to 3.0


# %%
# docs:begin path
LITE_STEPS = (
    ("create the collections on a 3.0 server (same schema and index params)", "-"),
    ("copy rows: query_iterator + insert (lesson 4.5), or bulk writer files + bulk_import",
     "the Lite database is untouched: keep using it"),
    ("compare row counts and top-k results on both sides, then point MILVUS_URI at the server",
     "MILVUS_URI back to the Lite file"),
)  # fmt: skip


def upgrade_path(kind: str, version: tuple[int, int, int], target: tuple[int, int, int]) -> list[dict]:
    """The ordered steps from this engine to ``target``, each with the point a rollback returns to."""
    if kind == "lite":
        return [{"step": step, "rollback": back} for step, back in LITE_STEPS]
    tag = ".".join(map(str, target))
    plan = [  # (needed?, step, where a rollback goes)
        (True, "back up with milvus-backup (v0.5.16); restores go to the same or a newer version", "this backup"),
        (version < MIX_COORD_MINIMUM, "upgrade to 2.5.16 or later with mixCoord enabled (v2.5.x/v2.6.x upgrade "
         "pages)", "the backup"),
        (version < (2, 6, 0), f"upgrade to 2.6 (the 3.0 upgrade page was validated from {VALIDATED_26}); keep "
         "the message queue type", "the backup (2.6 changes the architecture)"),
        (version < target, f"helm upgrade with --reset-then-reuse-values, only image.all.tag=v{tag}; keep the "
         "chart version and the message queue", "2.6 image, while Storage V3 is off (release notes); the "
         "upgrade page advises restoring the backup"),
        (True, "verify: every collection loads, row counts and probe searches match (lesson 4.6)", "as above"),
        (True, "opt in to new index versions (targetVecIndexVersion, targetScalarIndexVersion)",
         "treat as one-way: rebuilt indexes may not load on 2.6"),
        (True, "only when a feature needs it: common.storage.useLoonFFI=true (Storage V3)",
         "none: no way back to 2.6 after this"),
    ]  # fmt: skip
    return [{"step": step, "rollback": back} for needed, step, back in plan if needed]


# docs:end


# %% [markdown]
# ## Index types in use and what 3.0 does with them


# %%
# docs:begin indexes
def indexes_in_use(client) -> list[dict]:
    """Every collection's vector and scalar indexes, with what 3.0 does with each type."""
    rows = []
    for name in client.list_collections():  # every collection in the current database
        for index in client.list_indexes(
            collection_name=name,  # the indexes of this collection, by index name
        ):
            described = client.describe_index(
                collection_name=name,
                index_name=index,  # one index: its type, metric and parameters
            )
            kind = described.get("index_type", "?")
            rows.append(
                {
                    "collection": name,
                    "field": described.get("field_name", "?"),
                    "index": kind,
                    "3.0": INDEX_STATUS.get(kind, "not in the course's list: check the v3.0.x index pages"),
                }
            )
    return rows


# docs:end


# %% [markdown]
# ## Message queue and WAL in the Helm values


# %%
def message_queue(values: dict) -> str:
    """The WAL / message queue a values file selects (standalone.messageQueue, or the enabled subchart)."""
    chosen = (values.get("standalone") or {}).get("messageQueue")
    if chosen:
        return chosen
    enabled = [
        name for name in ("woodpecker", "pulsarv3", "pulsar", "kafka") if (values.get(name) or {}).get("enabled")
    ]
    return ", ".join(enabled) or "the chart's default"


def wal_rows(chart_defaults: dict | None) -> list[dict]:
    rows = []
    for name in ("values-cluster.yaml", "values-standalone.yaml"):
        values = yaml.safe_load((K8S / name).read_text())
        embedded = ((values.get("streaming") or {}).get("woodpecker") or {}).get("embedded")
        rows.append(
            {
                "values": name,
                "message queue / WAL": message_queue(values),
                "woodpecker embedded": "-" if embedded is None else embedded,
                "upgrade keeps": message_queue(values),
            }
        )
    if chart_defaults is not None:
        rows.append(
            {
                "values": "chart defaults (a release installed without our values)",
                "message queue / WAL": message_queue({**chart_defaults, "standalone": {}}),
                "woodpecker embedded": "-",
                "upgrade keeps": "that same queue",
            }
        )
    return rows


# %% [markdown]
# ## The values the upgrade proposes, against the chart's keys


# %%
# docs:begin values
def proposed_values(target: tuple[int, int, int]) -> dict:
    """The values the upgrade adds to the release's own (helm upgrade --reset-then-reuse-values -f this)."""
    user_yaml = (
        "# 3.0 settings have no chart keys yet (chart 5.0.19): they go to the Milvus config file.\n"
        "# Leave them commented for the upgrade itself; turn them on one at a time afterwards.\n"
        "# dataCoord:\n#   targetVecIndexVersion: 10\n#   targetScalarIndexVersion: 4\n"
        "# common:\n#   storage:\n#     useLoonFFI: true   # Storage V3: no rollback to 2.6 after data is written\n"
    )
    return {"image": {"all": {"tag": "v" + ".".join(map(str, target))}}, "extraConfigFiles": {"user.yaml": user_yaml}}


def upgrade_key_check(chart: Path, target: tuple[int, int, int]) -> tuple[list[dict], str]:
    """Lesson 5.1's check on the proposed values (alone and merged with ours), and a misspelt copy."""
    kube = kubernetes_lesson()
    defaults = kube.chart_defaults(chart)
    proposed = proposed_values(target)
    rows = [
        {
            "values": "upgrade values (image tag, extraConfigFiles)",
            "unknown keys": ", ".join(kube.unknown_keys(proposed, defaults)) or "none",
        }
    ]
    for name in ("values-cluster.yaml", "values-standalone.yaml"):
        merged = kube.merged(yaml.safe_load((K8S / name).read_text()), proposed)
        rows.append(
            {
                "values": f"{name} + upgrade values",
                "unknown keys": ", ".join(kube.unknown_keys(merged, defaults)) or "none",
            }
        )
    typo = copy.deepcopy(proposed)
    typo["extraConfigFile"] = typo.pop("extraConfigFiles")  # one letter short: Helm would drop it silently
    return rows, ", ".join(kube.unknown_keys(typo, defaults)) or "nothing (unexpected)"


# docs:end


# %% [markdown]
# ## Run the sections in order


# %%
def chart_section(args, target) -> tuple[list[dict], str | None, dict | None, str | None]:
    chart = Path(args.chart) if args.chart and Path(args.chart).exists() else None
    if chart is None:
        return [], None, None, "skipped: needs the Milvus chart as a folder or .tgz (--chart / MILVUS_HELM_CHART)"
    keys, caught = upgrade_key_check(chart, target)
    return keys, caught, kubernetes_lesson().chart_defaults(chart), None


def report_engine(client, info, target) -> tuple[list[dict], list[dict]]:
    heading("1. This engine and the path to " + ".".join(map(str, target)))
    steps = upgrade_path(info.kind, info.version, target)
    if info.kind == "lite":
        print(f"{info.label} is not a server: nothing upgrades in place; the data moves to a 3.0 server.")
    elif info.version >= target:
        print(f"{info.label}: already at {'.'.join(map(str, target))}; what is left are the opt-ins below.")
    else:
        needs = [s["step"].split(" (")[0] for s in steps if s["step"].startswith("upgrade to")]
        print(f"{info.label}: needs {' → '.join(needs) or 'only the image upgrade'} before 3.0")
    heading("2. Index types in use and what 3.0 does with them")
    indexes = indexes_in_use(client)
    if indexes:
        table(indexes)
    else:
        print("no indexed collections in this database")
    return steps, indexes


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--target", default="3.0.2", help="the Milvus version to upgrade to (default 3.0.2)")
    parser.add_argument(
        "--chart",
        default=os.environ.get("MILVUS_HELM_CHART") or None,
        help="Milvus Helm chart folder or .tgz to check the proposed values against (default: MILVUS_HELM_CHART)",
    )
    args = parser.parse_args(argv)
    try:
        target = parse_version(args.target)
    except ValueError:
        raise BadInput(f"--target {args.target!r} is not a version", "use e.g. --target 3.0.2") from None
    if target < (3, 0, 0):
        raise BadInput(f"--target {args.target} is not a 3.x version", "this preflight plans an upgrade to 3.0")
    with cli.engine(args.uri) as (client, info):
        steps, indexes = report_engine(client, info, target)
    keys, caught, defaults, chart_skip = chart_section(args, target)
    return report_plan(info, target, steps, indexes, keys, caught, defaults, chart_skip)


def report_plan(info, target, steps, indexes, keys, caught, defaults, chart_skip) -> dict:
    heading(f"3. Message queue and WAL in the course's Helm values (chart {CHART_VERSION})")
    wal = wal_rows(defaults)
    table(wal)
    print("Keep the message queue type through the upgrade (v3.0.x upgrade page); switching, e.g. to Woodpecker,")
    print("is its own operation afterwards (switch-pulsar-woodpecker / switch-kafka-woodpecker pages).")
    heading("4. The values the upgrade proposes, against the chart's keys (lesson 5.1's check)")
    if chart_skip:
        print(chart_skip)
    else:
        table(keys)
        print(f"a copy with 'extraConfigFile' (the chart's key is extraConfigFiles) → unknown: {caught}")
    print(f"The values target chart {CHART_VERSION}; no published chart has 3.0-specific keys, so the 3.0")
    print("settings go to extraConfigFiles (user.yaml).")
    heading("5. Storage V3 and the index-version opt-ins: what each costs")
    table(list(OPT_INS))
    heading("6. The steps, in order, with their rollback point")
    table([{"#": i + 1, **step} for i, step in enumerate(steps)])
    unknown = [row["values"] for row in keys if row["unknown keys"] != "none"]
    verdict = "unchecked" if chart_skip else "all known" if not unknown else "UNKNOWN: " + ", ".join(unknown)
    return {
        "headline": f"{info.label} → {'.'.join(map(str, target))}: {len(steps)} steps, "
        f"{len(indexes)} indexes checked; values keys: {verdict}",
        "engine": info.kind,
        "version": ".".join(map(str, info.version)),
        "steps": steps,
        "indexes": indexes,
        "wal": wal,
        "keys": keys,
        "typo_caught": caught,
        "unknown_values": unknown,
        "skipped": [f"chart keys: {chart_skip}"] if chart_skip else [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
