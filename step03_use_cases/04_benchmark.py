"""Benchmark: one reproducible workload, measured the way VectorDBBench does, on one or more engines.

What you learn
  - what to measure before you pick an engine, index or machine:
      load duration   insert + index build + load, in seconds
      serial latency  p50 / p95 / p99 of one query at a time
      throughput      QPS with 1, 2 and 4 client threads (``--concurrency``)
      recall@10       against exact NumPy ground truth
      filtered search recall and p95 when a filter keeps 50% and 1% of rows
  - that a benchmark is only comparable when everything but the engine is
    fixed: the same seed, data, queries, index parameters and consistency
    level (Bounded here; Strong would add the server's time-tick wait);
  - how to compare engines: repeat ``--uri`` and the same workload runs on
    each, printed side by side and saved to reports/step03_benchmark.json
    and .png.

Run   python step03_use_cases/04_benchmark.py
      python step03_use_cases/04_benchmark.py --uri .milvus/bench.db --uri http://127.0.0.1:19530
      python step03_use_cases/04_benchmark.py --n 200000 --dim 768 --concurrency 1 4 16   (bigger, slower)
Docs  docs/step03_use_cases.md, section "04 벤치마크"
"""

from __future__ import annotations

from pathlib import Path

from common import cli
from common.config import load_settings
from common.data import exact_topk, make_dataset
from common.indexes import build_params, search_knob
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, new_figure, save_figure, save_json, table
from common.schemas import drop_if_exists, search_ids, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

COLLECTION = "s3_l4_bench"
K = 10
METRIC = "COSINE"
SEARCH_DEFAULTS = {"ef": 64, "nprobe": 16}
FILTERS = {"50%": "bucket < 50", "1%": "bucket < 1"}  # bucket is uniform in 0..99


def workload(n: int, dim: int, n_queries: int, seed: int):
    """Vectors, queries, a filter column and every ground truth the benchmark needs."""
    data = make_dataset(n, dim, n_queries, n_clusters=100, spread=2.0, seed=seed)
    bucket = np.random.default_rng(seed + 1).integers(0, 100, size=n)
    truth, _ = exact_topk(data.base, data.queries, K, METRIC)
    filtered_truth = {}
    for label, expr in FILTERS.items():
        allowed = np.flatnonzero(bucket < int(expr.split("<")[1]))
        local, _ = exact_topk(data.base[allowed], data.queries, K, METRIC)
        filtered_truth[label] = allowed[local]
    return data, bucket, truth, filtered_truth


# docs:begin load
def load(client, data, bucket, index_type: str, timeout: float) -> dict:
    """Insert (+ flush), build the index, load: each timed."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="bucket", datatype=DataType.INT64)  # 0..99, for the filtered cases
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=data.base.shape[1])
    drop_if_exists(client, COLLECTION)
    client.create_collection(collection_name=COLLECTION, schema=schema, consistency_level="Bounded")
    rows = vector_rows(data.base, id=range(len(data.base)), bucket=bucket.tolist())
    with Stopwatch() as insert:
        for start in range(0, len(rows), 5000):
            client.insert(collection_name=COLLECTION, data=rows[start : start + 5000])
        client.flush(collection_name=COLLECTION)
    build = build_params(index_type, len(data.base), data.base.shape[1])  # HNSW: M=16, efConstruction=128
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type=index_type, metric_type=METRIC, params=build)
    with Stopwatch() as index:
        client.create_index(collection_name=COLLECTION, index_params=index_params, timeout=timeout)
    with Stopwatch() as loading:
        client.load_collection(collection_name=COLLECTION, timeout=timeout)
    return {"insert s": insert.seconds, "index s": index.seconds, "load s": loading.seconds,
            "load duration s": insert.seconds + index.seconds + loading.seconds, "build": build}
# docs:end


def run_one(client, engine_label: str, index_type: str, data, bucket, truth, filtered_truth, args) -> dict:
    loaded = load(client, data, bucket, index_type, args.build_timeout)
    knob = search_knob(index_type)
    params = {"metric_type": METRIC, "params": {knob: SEARCH_DEFAULTS[knob]} if knob else {}}

    def one(q, expr=""):
        return client.search(COLLECTION, [q], limit=K, filter=expr, search_params=params, consistency_level="Bounded")

    queries = data.queries.tolist()
    found = search_ids(client, COLLECTION, data.queries, K, search_params=params, consistency_level="Bounded")
    serial = time_calls(one, queries, concurrency=1, warmup=10)
    qps = {c: time_calls(one, queries, concurrency=c).qps for c in args.concurrency}
    filtered = {}
    for label, expr in FILTERS.items():
        ids = search_ids(client, COLLECTION, data.queries, K, filter=expr, search_params=params, consistency_level="Bounded")
        latency = time_calls(lambda q, e=expr: one(q, e), queries[:100])
        filtered[label] = {"recall@10": recall_at_k(ids, filtered_truth[label], K), "p95 ms": latency.p95_ms}
    drop_if_exists(client, COLLECTION)
    return {
        "engine": engine_label, "index": index_type, **{k: v for k, v in loaded.items() if k != "build"},
        "build params": loaded["build"], "search params": params["params"],
        "recall@10": recall_at_k(found, truth, K), "serial": serial.as_dict(),
        "qps": {str(c): q for c, q in qps.items()}, "filtered": filtered, "found": found,
    }


def side_by_side(results: list[dict], concurrency: list[int]) -> list[dict]:
    rows = []
    for r in results:
        row = {"engine": r["engine"], "index": r["index"], "load s": r["load duration s"],
               "recall@10": r["recall@10"], "p50 ms": r["serial"]["p50_ms"], "p95 ms": r["serial"]["p95_ms"],
               "p99 ms": r["serial"]["p99_ms"]}
        row |= {f"QPS@{c}": r["qps"][str(c)] for c in concurrency}
        row |= {f"recall {label}": f["recall@10"] for label, f in r["filtered"].items()}
        rows.append(row)
    return rows


def plot(results: list[dict], concurrency: list[int]) -> str:
    fig, _ = new_figure(11, 4.2)
    fig.clf()
    left, right = fig.subplots(1, 2)
    for r in results:
        label = f"{r['engine']} {r['index']}"
        left.plot(concurrency, [r["qps"][str(c)] for c in concurrency], marker="o", label=label)
        right.scatter(r["serial"]["p95_ms"], r["recall@10"], s=60)
        right.annotate(label, (r["serial"]["p95_ms"], r["recall@10"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    left.set(xlabel="client threads", ylabel="QPS", title="Throughput vs concurrency", xticks=concurrency)
    right.set(xlabel="serial p95 latency (ms)", ylabel="recall@10 vs exact", title="Quality vs latency")
    left.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return str(save_figure(fig, "step03_benchmark"))


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__, several_uris=True)
    parser.add_argument("--n", type=cli.count(1000, 2_000_000), default=20000, help="vectors (default 20,000)")
    parser.add_argument("--dim", type=cli.DIM, default=128)
    parser.add_argument("--queries", type=cli.count(2, 100_000), default=200)
    parser.add_argument("--indexes", nargs="+", default=["FLAT", "HNSW"], help="index types (default FLAT HNSW)")
    parser.add_argument("--concurrency", nargs="+", type=cli.count(1, 256), default=[1, 2, 4], help="client threads (default 1 2 4)")
    parser.add_argument("--build-timeout", type=cli.real(1, 3600), default=180)
    parser.add_argument("--seed", type=cli.SEED, default=42)
    args = parser.parse_args(argv)
    uris = args.uri or [load_settings().milvus_uri]

    heading(f"Workload: {args.n} × {args.dim}-d {METRIC}, {args.queries} queries, top-{K}, seed {args.seed}")
    with Stopwatch() as prep:
        data, bucket, truth, filtered_truth = workload(args.n, args.dim, args.queries, args.seed)
    print(f"data + exact ground truth (NumPy) in {prep.seconds:.1f} s; client threads {args.concurrency}; consistency Bounded")

    results, engines = [], []
    for uri in uris:
        with cli.engine(uri) as (client, info):
            where = Path(uri).name if info.kind == "lite" else uri.split("://")[-1]
            label = f"{info.kind} {'.'.join(map(str, info.version))} ({where})"
            engines.append({"uri": uri, "engine": info.label})
            for index_type in args.indexes:
                print(f"  {label}: {index_type} ...", flush=True)
                results.append(run_one(client, label, index_type, data, bucket, truth, filtered_truth, args))

    heading("Side by side")
    rows = side_by_side(results, args.concurrency)
    table(rows)
    png = plot(results, args.concurrency)
    report = {"workload": {"n": args.n, "dim": args.dim, "queries": args.queries, "k": K, "metric": METRIC,
                           "seed": args.seed, "concurrency": args.concurrency, "filters": FILTERS},
              "engines": engines, "results": [{k: v for k, v in r.items() if k != "found"} for r in results]}
    path = save_json("step03_benchmark", report)
    print(f"\nsaved {path} and {png}")
    best = max(results, key=lambda r: r["qps"][str(args.concurrency[-1])])
    return {
        "headline": (f"{len(uris)} engine(s): best QPS@{args.concurrency[-1]} {best['qps'][str(args.concurrency[-1])]:.0f} "
                     f"({best['engine']} {best['index']}, recall {best['recall@10']:.3f})"),
        **report,
        "results": results,  # with the ids each search returned, so a test can recompute recall on its own
        "png": png,
    }


if __name__ == "__main__":
    cli.run(main)
