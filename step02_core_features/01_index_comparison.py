"""Index comparison: build time, recall@10, latency, QPS and memory for every vector index.

What you learn
  - how FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, HNSW_SQ and SCANN compare on
    the same data and the same queries — measured, not quoted;
  - recall@10 against exact NumPy ground truth (FLAT must be exactly 1.0);
  - how each index is built (nlist, m, nbits, M, efConstruction — printed per
    index) and which search knob it takes (nprobe, ef);
  - latency p50/p95/p99 and QPS of single serial queries, the amortised cost
    per query of batched searches, and memory per vector from each index's
    own arithmetic (the formula and its inputs are printed);
  - that an index the engine lacks is reported as such, not hidden.

Prerequisites  Step 1
Run            python step02_core_features/01_index_comparison.py [--n 20000] [--dim 128] [--indexes HNSW IVF_FLAT]
Docs           docs/step02_core_features.md, section "01 인덱스 비교"
"""

from __future__ import annotations

import contextlib
import math

from common import cli
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.errors import BadInput
from common.indexes import applied_build_params, check_index, check_search_params, memory
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, new_figure, save_figure, save_json, table
from common.rows import drop_if_exists, search_ids, vector_rows

from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l1_"
COLLECTION = PREFIX + "vectors"
CANDIDATES = ("FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "HNSW_SQ", "SCANN")
K = 10


# docs:begin build-params
def build_params(index_type: str, n: int, dim: int) -> dict:
    """The build parameters this lesson gives each index for ``n`` vectors of ``dim`` dimensions."""
    nlist = int(min(65536, max(16, 2 ** round(math.log2(4 * math.sqrt(n))))))  # rule of thumb: nlist ≈ 4·√N
    return {
        "FLAT": {},  # exact brute force: nothing to build
        "IVF_FLAT": {"nlist": nlist},  # k-means cells; a search scans the nprobe nearest cells
        "IVF_SQ8": {"nlist": nlist},  # IVF + each float stored as 1 byte (4× smaller, slightly lossy)
        "IVF_PQ": {"nlist": nlist, "m": dim // 4, "nbits": 8},  # IVF + each vector as m codes of nbits (16× smaller)
        "HNSW": {"M": 16, "efConstruction": 128},  # M links per node; efConstruction = candidates while building
        "HNSW_SQ": {"M": 16, "efConstruction": 128, "sq_type": "SQ8"},  # HNSW over 8-bit scalar-quantised vectors
        "SCANN": {"nlist": nlist},  # IVF + 4-bit codes, re-ranked with the raw vectors
    }[index_type]


def search_params(index_type: str, build: dict) -> dict:
    """One middle-of-the-road search setting per index; lesson 2.2 tunes them properly."""
    if index_type.startswith("HNSW"):
        return {"ef": 64}  # candidate list size: ef >= limit; larger = better recall, slower
    if index_type.startswith("IVF") or index_type == "SCANN":
        params = {"nprobe": min(16, build["nlist"])}  # cells scanned per query: 1..nlist
        if index_type == "SCANN":
            params["reorder_k"] = 100  # candidates re-ranked with raw vectors (>= limit)
        return params
    return {}  # FLAT has no knob: it is always exact


# docs:end


def create_and_fill(client, vectors) -> None:
    """An id + embedding collection, no index yet; insert everything and flush."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
    drop_if_exists(client, COLLECTION)
    client.create_collection(collection_name=COLLECTION, schema=schema, consistency_level="Bounded")
    rows = vector_rows(vectors, id=range(len(vectors)))
    for start in range(0, len(rows), 5000):
        client.insert(collection_name=COLLECTION, data=rows[start : start + 5000])
    client.flush(collection_name=COLLECTION)  # on a server only sealed (flushed) segments are indexed


# docs:begin rebuild
def rebuild(client, index_type: str, build: dict, timeout: float) -> float:
    """Replace the collection's index with ``index_type`` and load it; return build + load seconds.

    ``timeout`` bounds the wait: a server retries a failing build forever, so a build that
    has not finished in time raises ``MilvusException`` instead of hanging the lesson.
    """
    client.release_collection(collection_name=COLLECTION)  # an index can only be dropped when released
    for name in client.list_indexes(collection_name=COLLECTION):
        client.drop_index(collection_name=COLLECTION, index_name=name)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type=index_type, metric_type="COSINE", params=build)
    with Stopwatch() as sw:
        client.create_index(collection_name=COLLECTION, index_params=index_params, timeout=timeout)
        client.load_collection(collection_name=COLLECTION, timeout=timeout)
    return sw.seconds


def search_once(client, query: list[float], params: dict) -> list[dict]:
    return client.search(
        collection_name=COLLECTION,
        data=[query],
        anns_field="embedding",
        limit=K,
        search_params={"metric_type": "COSINE", "params": params},
    )[0]


# docs:end


def measure(client, data, truth, params: dict, latency_queries: int) -> dict:
    """Recall and batched cost over all queries (100 per call); serial latency over the first ones."""
    request = {"metric_type": "COSINE", "params": params}
    with Stopwatch() as batched:
        found = search_ids(client, COLLECTION, data.queries, K, search_params=request)
    latency = time_calls(lambda q: search_once(client, q, params), data.queries[:latency_queries].tolist(), warmup=5)
    return {
        "recall@10": recall_at_k(found, truth, K),
        "batched ms/query": batched.seconds * 1000 / len(data.queries),
        "p50 ms": latency.p50_ms,
        "p95 ms": latency.p95_ms,
        "p99 ms": latency.p99_ms,
        "QPS": latency.qps,
    }


def memory_row(index_type: str, build: dict, n: int, dim: int) -> dict:
    mem = memory(index_type, dim, build)
    inputs = ", ".join([f"d={dim}"] + [f"{k}={v}" for k, v in build.items() if k in ("nlist", "m", "nbits", "M")])
    return {
        "memory MB": mem.total_mb(n),
        "bytes/vector": mem.formula,
        "formula inputs": inputs,
        "MB for 10M": mem.total_mb(10_000_000),
    }


def try_index(client, info, data, truth, index_type: str, args) -> tuple[dict, str | None]:
    """Build, load and measure one index; returns (row, why it has no figures or None)."""
    build = build_params(index_type, args.n, args.dim)
    row = {"index": index_type, "build params": build, **memory_row(index_type, build, args.n, args.dim)}
    if index_type not in info.vector_indexes:
        return {**row, "search params": f"not available on {info.label}"}, info.skip_reason(index_type)
    params = search_params(index_type, build)
    check_search_params(index_type, params, K, build)
    try:
        with quiet_pymilvus():
            build_s = rebuild(client, index_type, build, args.build_timeout)
    except MilvusException as exc:
        with quiet_pymilvus(), contextlib.suppress(MilvusException):
            client.drop_index(collection_name=COLLECTION, index_name="embedding")  # stop the server retrying it
        if info.assumed:  # the engine was described as a newer version: its refusal is the finding
            print(f"  {index_type:9s} {info.refusal(exc)}")
            return {**row, "search params": info.refusal(exc)}, info.refusal(exc)
        print(f"  {index_type:9s} build did not finish: {exc.message.splitlines()[0][:100]}")
        return {**row, "search params": f"build did not finish in {args.build_timeout:.0f} s"}, "failed"
    described = client.describe_index(collection_name=COLLECTION, index_name="embedding")
    row.update(
        {
            "search params": params,
            "build+load s": build_s,
            "params applied": applied_build_params(described, build),
            **measure(client, data, truth, params, args.latency_queries),
        }
    )
    print(f"  {index_type:9s} {build} built in {build_s:.1f} s, recall@10 {row['recall@10']:.3f}")
    return row, None


def plot(rows: list[dict], label: str, lite: bool) -> str:
    fig, ax = new_figure()
    cost = "batched ms/query" if lite else "p50 ms"
    for row in rows:
        if row.get("recall@10") is not None:
            ax.scatter(row[cost], row["recall@10"], s=60)
            ax.annotate(row["index"], (row[cost], row["recall@10"]), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel(
        "ms per query, amortised over batches of 100" if lite else "p50 latency, ms (serial, 1 query per call)"
    )
    ax.set_ylabel("recall@10 vs exact")
    ax.set_title(f"Index comparison on {label}")
    ax.grid(alpha=0.3)
    return str(save_figure(fig, "step02_index_comparison"))


def parse(argv):
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(1000, 2_000_000), default=20000, help="vectors (default 20000)")
    parser.add_argument("--dim", type=cli.DIM, default=128, help="dimension (default 128)")
    parser.add_argument(
        "--queries", type=cli.int_range(2, 100_000), default=200, help="queries for recall (default 200)"
    )
    parser.add_argument(
        "--latency-queries",
        type=cli.int_range(1, 100_000),
        default=100,
        help="serial queries for latency (default 100)",
    )
    parser.add_argument("--clusters", type=cli.int_range(1, 100_000), default=100, help="data clusters (default 100)")
    parser.add_argument(
        "--spread", type=cli.float_range(0.01, 100), default=2.0, help="cluster spread; larger = harder (default 2.0)"
    )
    parser.add_argument(
        "--indexes", nargs="*", default=list(CANDIDATES), help=f"index types (default: {' '.join(CANDIDATES)})"
    )
    parser.add_argument(
        "--build-timeout",
        type=cli.float_range(1, 3600),
        default=180,
        help="seconds to wait for one index build (default 180)",
    )
    parser.add_argument("--seed", type=cli.SEED, default=0)
    return parser.parse_args(argv)


def requested_indexes(names: list[str]) -> list[str]:
    heading("0. Checking the requested index types")
    requested = []
    for index_type in names:
        try:
            requested.append(check_index(index_type.upper()))
        except BadInput as exc:
            print(f"  {exc.message} — {exc.fix}; skipping it")
    print(f"comparing: {', '.join(requested)}")
    return requested


def print_results(rows: list[dict], args, info) -> None:
    heading("3. Results")
    table(
        [
            {
                k: r.get(k)
                for k in (
                    "index",
                    "build params",
                    "params applied",
                    "search params",
                    "build+load s",
                    "recall@10",
                    "batched ms/query",
                    "p50 ms",
                    "p95 ms",
                    "QPS",
                )
            }
            for r in rows
        ]
    )
    if any(r.get("params applied") is False and r["build params"] for r in rows):
        print(
            "'params applied: no': the engine does not report the build parameters it was sent (describe_index).\n"
            "Milvus Lite 3.2.2 reads them only from a JSON 'params' key, and pymilvus 3 sends each one as its own "
            "key,\n"
            "so Lite builds with its defaults (HNSW M=16, efConstruction=200; IVF nlist=128). Servers apply them."
        )
    print(
        f"\nrecall and 'batched ms/query' over {args.queries} queries sent 100 per call; p50/p95 and QPS from "
        f"{args.latency_queries} single queries, serial (concurrency 1)."
    )
    if info.kind == "lite":
        print(
            "On Milvus Lite each call walks every row in Python before the index runs, so single-query latency\n"
            "mostly measures Lite itself; batched ms/query shows the index's own cost. Compare latency on a server."
        )
    heading("4. Memory per vector (from each index's arithmetic)")
    table(
        [
            {
                "index": r["index"],
                "bytes/vector": r["bytes/vector"],
                "formula inputs": r["formula inputs"],
                f"MB for {args.n:,}": r["memory MB"],
                "MB for 10M": r["MB for 10M"],
            }
            for r in rows
        ]
    )


def main(argv=None) -> dict:
    args = parse(argv)
    requested = requested_indexes(args.indexes)
    data = make_dataset(args.n, args.dim, args.queries, args.clusters, args.spread, args.seed)
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
    rows, skipped, failed = [], [], []
    with cli.engine(args.uri) as (client, info):
        heading(f"1. Load {args.n:,} × {args.dim}-d vectors ({args.clusters} clusters, spread {args.spread})")
        with Stopwatch() as insert:
            create_and_fill(client, data.base)
        print(f"insert + flush: {insert.seconds:.1f} s")
        heading("2. Build, load and measure each index")
        for index_type in requested:
            row, problem = try_index(client, info, data, truth, index_type, args)
            rows.append(row)
            if problem == "failed":
                failed.append(index_type)
            elif problem:
                skipped.append(f"{index_type}: {problem}")
                print(f"  {index_type:9s} {row['search params']}")
        drop_if_exists(client, COLLECTION)
    print_results(rows, args, info)
    png = plot(rows, info.label, info.kind == "lite")
    report = save_json("step02_index_comparison", {"engine": info.label, "n": args.n, "dim": args.dim, "rows": rows})
    print(f"\nplot: {png}\nreport: {report}")
    measured = [r for r in rows if r.get("recall@10") is not None]
    flat = next((r["recall@10"] for r in measured if r["index"] == "FLAT"), float("nan"))
    return {
        "headline": f"{len(measured)} indexes; FLAT recall {flat:.3f}",
        "engine": info.kind,
        "insert_s": insert.seconds,
        "failed_builds": failed,
        "results": {
            r["index"]: {
                k: r.get(k)
                for k in (
                    "build params",
                    "params applied",
                    "search params",
                    "recall@10",
                    "batched ms/query",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "QPS",
                    "build+load s",
                    "memory MB",
                )
            }
            for r in rows
        },
        "skipped": skipped,
    }


if __name__ == "__main__":
    cli.run(main)
