"""The grader for the exercises in exercises/: runs your functions against a live Milvus and measures them.

    make check                 # every exercise, on the configured engine (Milvus Lite by default)
    make check STEP=2          # the exercises of step 2
    make check EX=2.1          # one exercise
    make check SOLUTIONS=1     # the reference solutions in solutions/ instead of your files
    python -m course.grader --answers my_answers/   # your files kept in another folder (laid out like exercises/)

Each exercise is a small file with a task (Korean and English) and a function to write. The grader
calls the function, measures what it did (recall against exact NumPy search, rows counted by Milvus,
the ids a filter selects, what promtool says of an alert), and prints the figure against the target,
with a hint when it fails. It never shows a solution. Exit 1 while any exercise fails.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import cli
from common.cli import engine
from common.config import REPO_ROOT
from common.data import exact_topk, make_dataset, normalize
from common.errors import CourseError
from common.metrics import recall_at_k
from common.report import table

import numpy as np
import yaml
from pymilvus import DataType, MilvusClient


class NotGradable(Exception):
    """The engine or machine lacks what the exercise needs: an explicit, named skip."""


@dataclass
class Result:
    passed: bool
    measured: str
    target: str


@dataclass(frozen=True)
class Exercise:
    id: str
    file: str  # relative to exercises/ (your code) and solutions/ (the reference)
    function: str
    check: Callable
    hint: str
    needs_milvus: bool = True


def load(root: Path, exercise: Exercise) -> Callable:
    path = root / exercise.file
    spec = importlib.util.spec_from_file_location(f"exercise_{exercise.id.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, exercise.function)


# ---- helpers the checks share ------------------------------------------------------------------


def fresh(
    client: MilvusClient, name: str, dim: int, metric: str = "COSINE", extra: tuple = (), index: bool = True
) -> None:
    """A collection with id, embedding (+ extra scalar fields) and, unless index=False, a FLAT index (exact)."""
    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    for field, dtype, kwargs in extra:
        schema.add_field(field_name=field, datatype=dtype, **kwargs)
    params = MilvusClient.prepare_index_params()
    params.add_index(field_name="embedding", index_type="FLAT", metric_type=metric)
    client.create_collection(
        collection_name=name, schema=schema, index_params=params if index else None, consistency_level="Strong"
    )


def fill(client: MilvusClient, name: str, vectors: np.ndarray, **columns) -> None:
    rows = [{"id": i, "embedding": v.tolist(), **{k: c[i] for k, c in columns.items()}} for i, v in enumerate(vectors)]
    for start in range(0, len(rows), 2000):
        client.insert(collection_name=name, data=rows[start : start + 2000])
    client.flush(collection_name=name)


def count(client: MilvusClient, name: str) -> int:
    return client.query(collection_name=name, filter="", output_fields=["count(*)"])[0]["count(*)"]


# ---- the checks: each measures what the learner's function did -----------------------------------


def check_schema(build_schema, client) -> Result:
    schema = build_schema()
    name = "ex_1_1"
    if client.has_collection(name):
        client.drop_collection(name)
    index = MilvusClient.prepare_index_params()
    index.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    client.create_collection(collection_name=name, schema=schema, index_params=index, consistency_level="Strong")
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    wanted = {"id": DataType.INT64, "title": DataType.VARCHAR, "embedding": DataType.FLOAT_VECTOR}
    right = [n for n, t in wanted.items() if n in fields and fields[n]["type"] == t]
    right = [n for n in right if n != "embedding" or int(fields[n]["params"].get("dim", 0)) == 32]
    right = [n for n in right if n != "title" or int(fields[n]["params"].get("max_length", 0)) == 200]
    ok_key = fields.get("id", {}).get("is_primary") and not fields["id"].get("auto_id")
    if len(right) == 3 and ok_key:
        vectors = make_dataset(50, 32, 1).base
        client.insert(
            collection_name=name,
            data=[{"id": i, "title": f"t{i}", "embedding": v.tolist()} for i, v in enumerate(vectors)],
        )
        rows = count(client, name)
    else:
        rows = 0
    return Result(
        len(right) == 3 and bool(ok_key) and rows == 50,
        f"fields right {len(right)}/3, primary key {'ok' if ok_key else 'wrong'}, rows {rows}/50",
        "3/3 fields, INT64 key without auto_id, 50 rows",
    )


class CountingClient:
    """The real client, with every insert call's row count written down (the grader's only wrapper)."""

    def __init__(self, client: MilvusClient):
        self.client, self.batches = client, []

    def insert(self, collection_name: str, data: list, **kwargs):
        self.batches.append(len(data))
        return self.client.insert(collection_name=collection_name, data=data, **kwargs)

    def __getattr__(self, attr):
        return getattr(self.client, attr)


def check_insert(insert_rows, client) -> Result:
    name, n = "ex_1_2", 1200
    fresh(client, name, 32, extra=(("title", DataType.VARCHAR, {"max_length": 64}),))
    vectors = make_dataset(n, 32, 1).base
    spy = CountingClient(client)
    returned = insert_rows(spy, name, vectors.tolist(), [f"title {i}" for i in range(n)])
    rows, largest = count(client, name), max(spy.batches, default=0)
    return Result(
        rows == n and returned == n and 0 < largest <= 500,
        f"rows {rows}/{n}, returned {returned}, largest call {largest} rows",
        f"{n} rows, returns {n}, every call ≤ 500 rows",
    )


def check_search(top_k, client) -> Result:
    name, data = "ex_1_3", make_dataset(3000, 32, 30, seed=13)
    fresh(client, name, 32)
    fill(client, name, data.base)
    client.load_collection(name)
    truth, _ = exact_topk(data.base, data.queries, 10)
    found = [top_k(client, name, q.tolist(), 10) for q in data.queries]
    recall = recall_at_k(found, truth, 10)
    return Result(recall >= 0.99, f"recall@10 {recall:.3f}", "≥ 0.99")


def check_index_choice(choose_index, client) -> Result:
    index_type, build, search = choose_index()
    nprobe, ef = search.get("nprobe", 0), search.get("ef", 0)
    cheap = (index_type.startswith("IVF") and 0 < nprobe <= min(32, build.get("nlist", 0) / 4)) or (
        index_type.startswith("HNSW") and 0 < ef <= 128
    )
    if not cheap:
        return Result(
            False, f"{index_type} {search}: over the cost rule", "no FLAT; IVF nprobe ≤ nlist/4 and ≤ 32; HNSW ef ≤ 128"
        )
    name, data = "ex_2_1", make_dataset(10_000, 64, 200, n_clusters=50, spread=1.6, seed=21)
    fresh(client, name, 64, index=False)
    fill(client, name, data.base)
    index = MilvusClient.prepare_index_params()
    index.add_index(field_name="embedding", index_type=index_type, metric_type="COSINE", params=build)
    client.create_index(collection_name=name, index_params=index)
    client.load_collection(name)
    held_out = data.queries[100:]  # the grader's own queries, not the ones a learner would tune on
    truth, _ = exact_topk(data.base, held_out, 10)
    hits = client.search(
        collection_name=name,
        data=held_out.tolist(),
        anns_field="embedding",
        limit=10,
        search_params={"metric_type": "COSINE", "params": search},
    )
    recall = recall_at_k([[h["id"] for h in q] for q in hits], truth, 10)
    return Result(
        recall >= 0.95, f"{index_type} {search}: held-out recall@10 {recall:.3f}", "≥ 0.95 within the cost rule"
    )


def check_filter(filter_expr, client) -> Result:
    rng = np.random.default_rng(22)
    n = 2000
    category = rng.choice(["books", "music", "toys"], size=n)
    price = np.round(rng.uniform(1, 60, size=n), 2)
    stock = rng.integers(0, 4, size=n)
    name = "ex_2_2"
    fresh(
        client,
        name,
        8,
        extra=(
            ("category", DataType.VARCHAR, {"max_length": 16}),
            ("price", DataType.DOUBLE, {}),
            ("stock", DataType.INT64, {}),
        ),
    )
    fill(
        client,
        name,
        normalize(rng.standard_normal((n, 8))),
        category=category.tolist(),
        price=price.tolist(),
        stock=stock.tolist(),
    )
    client.load_collection(name)
    expected = set(np.flatnonzero((category == "books") & (price < 20) & (stock > 0)).tolist())
    got = {row["id"] for row in client.query(collection_name=name, filter=filter_expr(), output_fields=["id"], limit=n)}
    missed, wrong = len(expected - got), len(got - expected)
    return Result(
        missed == 0 and wrong == 0,
        f"selected {len(got)}: missed {missed}, wrong {wrong}",
        f"exactly the {len(expected)} matching rows",
    )


def check_recommend(recommend, client) -> Result:
    rng = np.random.default_rng(31)
    items, users = rng.standard_normal((2000, 16)).astype(np.float32), rng.standard_normal((20, 16)).astype(np.float32)
    name = "ex_3_1"
    fresh(client, name, 16, metric="IP")
    fill(client, name, items)
    client.load_collection(name)
    seen_hits, short, recalls = 0, 0, []
    for user in users:
        scores = items @ user
        seen = np.argsort(-scores)[:15:2].tolist()  # the user has seen some of the very best items
        found = recommend(client, name, user.tolist(), seen, 10)
        seen_hits += len(set(found) & set(seen))
        short += len(found) < 10
        unseen = [i for i in np.argsort(-scores).tolist() if i not in set(seen)][:10]
        recalls.append(len(set(found) & set(unseen)) / 10)
    recall = float(np.mean(recalls))
    return Result(
        seen_hits == 0 and short == 0 and recall >= 0.99,
        f"seen items returned {seen_hits}, short lists {short}, recall@10 among unseen {recall:.3f}",
        "0 seen, 0 short, recall ≥ 0.99",
    )


def check_anomaly(anomaly_scores, client) -> Result:
    rng = np.random.default_rng(32)
    reference = rng.normal(0, 1, size=(3000, 8)).astype(np.float32)
    points = np.vstack([rng.normal(0, 1, size=(190, 8)), rng.normal(0, 1, size=(10, 8)) + 6]).astype(np.float32)
    name, k = "ex_3_2", 5
    fresh(client, name, 8, metric="L2")
    fill(client, name, reference)
    client.load_collection(name)
    scores = np.asarray(anomaly_scores(client, name, points.tolist(), k), dtype=np.float64)
    exact = np.sort(np.linalg.norm(points[:, None] - reference[None], axis=2), axis=1)[:, k - 1]
    error = float(np.max(np.abs(scores - exact))) if scores.shape == exact.shape else float("inf")
    top = set(np.argsort(-scores)[:10].tolist()) if scores.shape == exact.shape else set()
    caught = len(top & set(range(190, 200)))
    return Result(
        error <= 1e-3 and caught == 10,
        f"max error vs NumPy {error:.2g}, outliers in the top 10: {caught}/10",
        "error ≤ 1e-3, 10/10",
    )


def check_idempotent(apply_events, client) -> Result:
    name, n = "ex_4_1", 300
    fresh(client, name, 8, extra=(("version", DataType.INT64, {}),))
    vectors = normalize(np.random.default_rng(41).standard_normal((n, 8)))
    client.load_collection(name)
    events = [{"id": i, "version": 1, "embedding": vectors[i].tolist()} for i in range(n)]
    apply_events(client, name, events)
    updates = [{**e, "version": 2} for e in events[:50]]
    apply_events(client, name, updates)
    apply_events(client, name, events[:100])  # a crash: replayed from an older offset, version 1 again
    apply_events(client, name, updates[:10] + events[:10])  # the same id twice in one batch
    rows = count(client, name)
    latest = client.query(collection_name=name, filter="id < 50", output_fields=["version"], limit=100)
    updated = sum(row["version"] == 2 for row in latest)
    return Result(
        rows == n and updated == 50,
        f"rows after replays {rows}/{n}, latest version kept {updated}/50",
        f"{n} rows, 50/50",
    )


def check_backup(damaged_files, _client) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {f"segment_{i}.bin": np.random.default_rng(i).bytes(4096) for i in range(6)}
        for name, data in files.items():
            (folder / name).write_bytes(data)
        manifest = {"files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        clean = damaged_files(folder)
        corrupt = bytearray(files["segment_2.bin"])
        corrupt[100] ^= 0xFF  # one flipped byte
        (folder / "segment_2.bin").write_bytes(bytes(corrupt))
        (folder / "segment_4.bin").unlink()
        found = damaged_files(folder)
    expected = ["segment_2.bin", "segment_4.bin"]
    return Result(
        list(clean) == [] and list(found) == expected,
        f"intact backup: {len(clean)} flagged; damaged backup: found {sorted(set(found) & set(expected))}, "
        f"false alarms {len(set(found) - set(expected))}",
        "0 flagged; both damaged files, no false alarm",
    )


def promtool_case(rule: dict, bucket_rates: dict[str, int], fires: bool) -> bool:
    """Run promtool's rule unit test: histogram buckets growing at the given per-minute counts for 20 minutes."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise NotGradable("needs promtool (apt-get install prometheus, as .ci/run does)")
    series = [
        {"series": f'course_search_latency_seconds_bucket{{job="course-app",le="{le}"}}', "values": f"0+{rate}x20"}
        for le, rate in bucket_rates.items()
    ]
    expected = [{"exp_labels": rule.get("labels", {}), "exp_annotations": rule.get("annotations", {})}] if fires else []
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [{"eval_time": "15m", "alertname": str(rule.get("alert")), "exp_alerts": expected}],
            }
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "exercise", "rules": [rule]}]}))
        (Path(tmp) / "test.yml").write_text(yaml.safe_dump(test))
        done = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp, capture_output=True, text=True)
    return done.returncode == 0


def check_alert(alert_rule, _client) -> Result:
    rule = alert_rule()
    slow = {"0.1": 10, "0.5": 100, "+Inf": 100}  # 90% of searches take 0.1–0.5 s: p99 ≈ 0.5 s
    fast = {"0.1": 100, "0.5": 100, "+Inf": 100}  # every search under 0.1 s
    fired = promtool_case(rule, slow, fires=True)
    quiet = promtool_case(rule, fast, fires=False)
    named = rule.get("alert") == "AppSearchP99High" and rule.get("labels", {}).get("severity") == "page"
    return Result(
        fired and quiet and named,
        f"fires when slow: {fired}; silent when fast: {quiet}; name and severity: {named}",
        "fires, silent, named AppSearchP99High / page",
    )


def check_ab(arm, _client) -> Result:
    users = [f"user-{i}" for i in range(20_000)]
    share = float(np.mean([arm(u, 0.2) == "treatment" for u in users]))
    here = [arm(u, 0.2) for u in users[:500]]
    code = textwrap.dedent("""
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("ab", sys.argv[1])
        module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
        print(json.dumps([module.arm(f"user-{i}", 0.2) for i in range(500)]))""")
    source = Path(arm.__code__.co_filename)
    other = subprocess.run(
        [sys.executable, "-c", code, str(source)],
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=REPO_ROOT,
    )
    there = json.loads(other.stdout) if other.returncode == 0 else []
    stable = float(np.mean([a == b for a, b in zip(here, there)])) if there else 0.0
    return Result(
        abs(share - 0.2) <= 0.01 and stable == 1.0,
        f"treatment share {share:.3f}; same arm in another process {stable:.0%}",
        "0.2 ± 0.01; 100%",
    )


def check_alias(switch, client) -> Result:
    alias, old, new = "ex_5_3_live", "ex_5_3_v1", "ex_5_3_v2"
    for name in (old, new):
        fresh(client, name, 8)
    with_alias = [a for a in client.list_aliases()["aliases"] if a == alias]
    for a in with_alias:
        client.drop_alias(alias=a)
    vectors = normalize(np.random.default_rng(53).standard_normal((20, 8)))
    fill(client, old, vectors[:10])
    client.insert(
        collection_name=new, data=[{"id": 100 + i, "embedding": v.tolist()} for i, v in enumerate(vectors[10:])]
    )
    client.flush(collection_name=new)
    for name in (old, new):
        client.load_collection(name)
    switch(client, alias, old)  # no alias yet: create it
    first = {row["id"] for row in client.query(collection_name=alias, filter="id >= 0", output_fields=["id"])}
    switch(client, alias, new)  # move it
    switch(client, alias, new)  # twice: still fine
    second = {row["id"] for row in client.query(collection_name=alias, filter="id >= 0", output_fields=["id"])}
    kept = client.has_collection(old)
    client.drop_alias(alias=alias)
    return Result(
        first == set(range(10)) and second == set(range(100, 110)) and kept,
        f"alias → v1 rows: {first == set(range(10))}; → v2 rows: {second == set(range(100, 110))}; v1 kept: {kept}",
        "True; True; True",
    )


EXERCISES = [
    Exercise(
        "1.1",
        "step01/ex1_schema.py",
        "build_schema",
        check_schema,
        "add three fields to MilvusClient.create_schema(auto_id=False): is_primary=True, max_length=200, dim=32 "
        "(lesson 1.3)",
    ),
    Exercise(
        "1.2",
        "step01/ex2_insert.py",
        "insert_rows",
        check_insert,
        "loop over range(0, n, 500), insert each slice, flush once at the end; sum the insert_count (lesson 1.4)",
    ),
    Exercise(
        "1.3",
        "step01/ex3_search.py",
        "top_k",
        check_search,
        "client.search(..., data=[query], anns_field='embedding', limit=k) returns one list of hits per query "
        "(lesson 1.4)",
    ),
    Exercise(
        "2.1",
        "step02/ex1_index_choice.py",
        "choose_index",
        check_index_choice,
        "sweep ef or nprobe as lesson 2.2 does (python step02_core_features/02_search_tuning.py --n 10000 --dim 64 "
        "--clusters 50 --spread 1.6) and take the cheapest setting over the target",
    ),
    Exercise(
        "2.2",
        "step02/ex2_filter.py",
        "filter_expr",
        check_filter,
        "comparisons use ==, <, >; strings in double quotes; join conditions with 'and' (lesson 2.4)",
    ),
    Exercise(
        "3.1",
        "step03/ex1_recommend.py",
        "recommend",
        check_recommend,
        "pass filter='id not in [...]' to search with metric_type 'IP' (lesson 3.3)",
    ),
    Exercise(
        "3.2",
        "step03/ex2_anomaly.py",
        "anomaly_scores",
        check_anomaly,
        "search all points at once with limit=k; the last hit of each list is the k-th; take the square root (lesson "
        "3.5)",
    ),
    Exercise(
        "4.1",
        "step04/ex1_idempotent.py",
        "apply_events",
        check_idempotent,
        "upsert replaces by primary key, so a replayed old event overwrites a newer one: read the stored "
        "versions first (query with 'id in [...]') and write only newer events (lesson 4.4)",
    ),
    Exercise(
        "4.2",
        "step04/ex2_backup_verify.py",
        "damaged_files",
        check_backup,
        "hash each file named in the manifest with hashlib.sha256 and compare; a missing file is damaged too (lesson "
        "4.5)",
        needs_milvus=False,
    ),
    Exercise(
        "5.1",
        "step05/ex1_alert_rule.py",
        "alert_rule",
        check_alert,
        "histogram_quantile(0.99, sum by (le) (rate(<histogram>_bucket{job=...}[5m]))) > 0.25, with for: 5m "
        "(monitoring/alerts.yml, lesson 5.6)",
        needs_milvus=False,
    ),
    Exercise(
        "5.2",
        "step05/ex2_ab_route.py",
        "arm",
        check_ab,
        "hash the id with hashlib (the same in every process), map it to [0, 1) and compare with share (lesson 5.4)",
        needs_milvus=False,
    ),
    Exercise(
        "5.3",
        "step05/ex3_alias_switch.py",
        "switch",
        check_alias,
        "create_alias the first time, alter_alias afterwards; never drop the old collection (lesson 5.3)",
    ),
]


def grade(exercise: Exercise, root: Path, client) -> dict:
    row = {"exercise": exercise.id, "file": f"{root.name}/{exercise.file}"}
    try:
        function = load(root, exercise)
        result = exercise.check(function, client)
    except NotImplementedError:
        return {**row, "result": "FAIL", "measured": "not written yet", "target": "", "hint": exercise.hint}
    except NotGradable as reason:
        return {**row, "result": "skipped", "measured": f"skipped: {reason}", "target": "", "hint": ""}
    except Exception as exc:  # the learner's code raised: say what, and the hint
        message = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else ""
        return {
            **row,
            "result": "FAIL",
            "measured": f"raised {type(exc).__name__}: {message}",
            "target": "",
            "hint": exercise.hint,
        }
    return {
        **row,
        "result": "pass" if result.passed else "FAIL",
        "measured": result.measured,
        "target": result.target,
        "hint": "" if result.passed else exercise.hint,
    }


def chosen(step: str | None, ex: str | None) -> list[Exercise]:
    selected = [e for e in EXERCISES if (not step or e.id.split(".")[0] == step) and (not ex or e.id == ex)]
    if not selected:
        raise CourseError(
            f"no exercise matches STEP={step or ''} EX={ex or ''}; exercises: {', '.join(e.id for e in EXERCISES)}"
        )
    return selected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", help="only this step's exercises (1-5)")
    parser.add_argument("--ex", help="only this exercise (e.g. 2.1)")
    parser.add_argument("--solutions", action="store_true", help="grade the reference solutions in solutions/")
    parser.add_argument(
        "--answers", type=Path, help="grade the files in this folder instead (laid out like exercises/)"
    )
    parser.add_argument("--uri", help="Milvus URI (default: MILVUS_URI / the course's Milvus Lite file)")
    args = parser.parse_args(argv)
    root = args.answers or REPO_ROOT / ("solutions" if args.solutions else "exercises")
    if not root.is_dir():
        raise CourseError(f"no folder {root}", "pass --answers a folder laid out like exercises/ (stepNN/exN_*.py)")
    selected = chosen(args.step or None, args.ex or None)
    with engine(args.uri) as (client, _info):
        rows = [grade(exercise, root, client) for exercise in selected]
        for exercise in selected:
            for name in [c for c in client.list_collections() if c.startswith(f"ex_{exercise.id.replace('.', '_')}")]:
                client.drop_collection(name)
    table([{k: v for k, v in row.items() if k != "hint"} for row in rows])
    failed = [row for row in rows if row["result"] == "FAIL"]
    for row in failed:
        print(f"hint {row['exercise']}: {row['hint']}")
    passed = sum(row["result"] == "pass" for row in rows)
    print(f"\n{passed} passed, {len(failed)} failed, {len(rows) - passed - len(failed)} skipped ({root.name}/)")
    return 1 if failed else 0


if __name__ == "__main__":
    cli.run(main)
