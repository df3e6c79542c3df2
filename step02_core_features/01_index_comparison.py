"""Index comparison: build time, recall@10, latency, QPS and memory for every vector index.

What you learn
  - how FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, HNSW_SQ and SCANN compare on
    the same data and the same queries — measured, not quoted;
  - recall@10 against exact NumPy ground truth (FLAT must be exactly 1.0);
  - latency p50/p95/p99 and QPS of single serial queries, and memory per
    vector from each index's own arithmetic (the formula is printed);
  - that an index the engine lacks is reported as such, not hidden.

Prerequisites  Step 1
Run            python step02_core_features/01_index_comparison.py [--n 20000] [--dim 128] [--indexes HNSW IVF_FLAT]
Docs           docs/step02_core_features.md, section "01 인덱스 비교"
"""

from __future__ import annotations

from common import cli
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.errors import BadInput
from common.indexes import build_params, check_index, check_search_params, memory, search_knob
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, new_figure, save_figure, save_json, table
from common.schemas import create_vector_collection, drop_if_exists, search_ids, vector_index

from pymilvus.exceptions import MilvusException

PREFIX = "s2_l1_"
COLLECTION = PREFIX + "vectors"
CANDIDATES = ("FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "HNSW_SQ", "SCANN")
K = 10
# One middle-of-the-road search setting per knob; lesson 2.2 tunes them properly.
SEARCH_DEFAULTS = {"ef": 64, "nprobe": 16}


def search_params(index_type: str, build: dict) -> dict:
    knob = search_knob(index_type)
    params = {knob: min(SEARCH_DEFAULTS[knob], build.get("nlist", 10**9))} if knob else {}
    if index_type == "SCANN":
        params["reorder_k"] = 100
    return params


def load_data(client, data) -> float:
    with Stopwatch() as sw:
        create_vector_collection(client, COLLECTION, data.base)  # no index yet; flushed
    return sw.seconds


def rebuild(client, index_type: str, build: dict, timeout: float) -> float:
    """Replace the collection's index and load it; return build + load seconds.

    The wait is bounded: a server retries a failing build forever, so a build
    that has not finished within ``timeout`` raises ``MilvusException``.
    """
    client.release_collection(COLLECTION)
    for name in client.list_indexes(COLLECTION):
        client.drop_index(COLLECTION, name)
    with Stopwatch() as sw:
        client.create_index(COLLECTION, vector_index("embedding", index_type, "COSINE", **build), timeout=timeout)
        client.load_collection(COLLECTION, timeout=timeout)
    return sw.seconds


def measure(client, data, truth, index_type: str, params: dict, latency_queries: int) -> dict:
    request = {"metric_type": "COSINE", "params": params}
    found = search_ids(client, COLLECTION, data.queries, K, search_params=request, consistency_level="Bounded")
    recall = recall_at_k(found, truth, K)
    queries = data.queries[:latency_queries].tolist()
    latency = time_calls(
        lambda q: client.search(COLLECTION, [q], limit=K, search_params=request, consistency_level="Bounded"),
        queries, warmup=5,
    )
    return {"recall@10": recall, "p50 ms": latency.p50_ms, "p95 ms": latency.p95_ms,
            "p99 ms": latency.p99_ms, "QPS": latency.qps}


def plot(rows: list[dict], label: str) -> str:
    fig, ax = new_figure()
    for row in rows:
        if row.get("recall@10") is not None:
            ax.scatter(row["QPS"], row["recall@10"], s=60)
            ax.annotate(row["index"], (row["QPS"], row["recall@10"]), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("QPS (serial, 1 query per call)")
    ax.set_ylabel("recall@10 vs exact")
    ax.set_title(f"Index comparison on {label}")
    ax.grid(alpha=0.3)
    return str(save_figure(fig, "step02_index_comparison"))


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=int, default=20000, help="vectors (default 20000)")
    parser.add_argument("--dim", type=int, default=128, help="dimension (default 128)")
    parser.add_argument("--queries", type=int, default=200, help="queries for recall (default 200)")
    parser.add_argument("--latency-queries", type=int, default=100, help="serial queries for latency (default 100)")
    parser.add_argument("--clusters", type=int, default=100, help="data clusters (default 100)")
    parser.add_argument("--spread", type=float, default=2.0, help="cluster spread; larger = harder (default 2.0)")
    parser.add_argument("--indexes", nargs="*", default=list(CANDIDATES), help=f"index types (default: {' '.join(CANDIDATES)})")
    parser.add_argument("--build-timeout", type=float, default=180, help="seconds to wait for one index build (default 180)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    heading("0. Checking the requested index types")
    requested = []
    for index_type in args.indexes:
        try:
            requested.append(check_index(index_type.upper()))
        except BadInput as exc:
            print(f"  {exc.message} — {exc.fix}; skipping it")
    print(f"comparing: {', '.join(requested)}")

    data = make_dataset(args.n, args.dim, args.queries, args.clusters, args.spread, args.seed)
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")

    rows, skipped, failed = [], [], []
    with cli.engine(args.uri) as (client, info):
        heading(f"1. Load {args.n:,} × {args.dim}-d vectors ({args.clusters} clusters, spread {args.spread})")
        insert_s = load_data(client, data)
        print(f"insert + flush: {insert_s:.1f} s")

        heading("2. Build, load and measure each index")
        for index_type in requested:
            build = build_params(index_type, args.n, args.dim)
            mem = memory(index_type, args.dim, build)
            row = {"index": index_type, "build params": build, "memory MB": mem.total_mb(args.n), "bytes/vector": mem.formula}
            if index_type not in info.vector_indexes:
                reason = f"not available on {info.label}"
                skipped.append(f"{index_type}: {info.skip_reason(index_type)}")
                rows.append({**row, "search params": reason})
                print(f"  {index_type:9s} {reason}")
                continue
            params = search_params(index_type, build)
            check_search_params(index_type, params, K, build)
            try:
                with quiet_pymilvus():
                    build_s = rebuild(client, index_type, build, args.build_timeout)
            except MilvusException as exc:
                failed.append(index_type)
                rows.append({**row, "search params": f"build did not finish in {args.build_timeout:.0f} s"})
                print(f"  {index_type:9s} build did not finish: {exc.message.splitlines()[0][:100]}")
                with quiet_pymilvus():
                    client.drop_index(COLLECTION, "embedding")  # stop the server retrying it
                continue
            row.update({"search params": params, "build+load s": build_s, **measure(client, data, truth, index_type, params, args.latency_queries)})
            rows.append(row)
            print(f"  {index_type:9s} built in {build_s:.1f} s, recall@10 {row['recall@10']:.3f}, p50 {row['p50 ms']:.2f} ms")
        drop_if_exists(client, COLLECTION)

    heading("3. Results")
    table([{k: r.get(k) for k in ("index", "search params", "build+load s", "recall@10", "p50 ms", "p95 ms", "p99 ms", "QPS", "memory MB")} for r in rows])
    print(f"\nQPS: one query per call, serial (concurrency 1), {args.latency_queries} queries; recall over {args.queries} queries.")
    if info.kind == "lite":
        print("On Milvus Lite each call walks every row in Python before the index runs, so latency mostly measures\n"
              "Lite itself; the recall column is the index's. Compare speed on a server (make server).")
    heading("4. Memory per vector (from each index's arithmetic)")
    table([{"index": r["index"], "bytes/vector": r["bytes/vector"], f"MB for {args.n:,}": r["memory MB"],
            "MB for 10M": memory(r["index"], args.dim, r["build params"]).total_mb(10_000_000)} for r in rows])
    png = plot(rows, info.label)
    report = save_json("step02_index_comparison", {"engine": info.label, "n": args.n, "dim": args.dim, "rows": rows})
    print(f"\nplot: {png}\nreport: {report}")

    measured = [r for r in rows if r.get("recall@10") is not None]
    best = max((r for r in measured if r["index"] != "FLAT"), key=lambda r: r["QPS"], default=None)
    return {
        "headline": f"{len(measured)} indexes; FLAT recall {next((r['recall@10'] for r in measured if r['index'] == 'FLAT'), float('nan')):.3f}"
                    + (f"; fastest ANN {best['index']} {best['QPS']:.0f} QPS @ recall {best['recall@10']:.3f}" if best else ""),
        "engine": info.kind,
        "insert_s": insert_s,
        "failed_builds": failed,
        "results": {r["index"]: {k: r.get(k) for k in ("recall@10", "p50 ms", "p95 ms", "p99 ms", "QPS", "build+load s", "memory MB")} for r in rows},
        "skipped": skipped,
    }


if __name__ == "__main__":
    cli.run(main)
