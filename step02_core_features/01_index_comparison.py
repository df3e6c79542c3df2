# %% [markdown]
"""
Index comparison: build time, recall@10, latency, QPS and memory for every vector index.

What you learn
  - how FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, HNSW_SQ and SCANN compare on
    the same data and the same queries — measured, not quoted;
  - recall@10 against exact NumPy ground truth (FLAT must be exactly 1.0);
  - how each index is built (nlist, m, nbits, M, efConstruction — the values
    describe_index reports as applied, printed per index) and which search knob
    it takes (nprobe, ef);
  - that Milvus Lite drops build parameters sent as separate keys, and how the
    course sends them so that Lite builds what was asked;
  - latency p50/p95/p99 and QPS of single serial queries, the amortised cost
    per query of batched searches, and memory per vector from each index's
    own arithmetic (the formula and its inputs are printed);
  - that an index the engine lacks is reported as such, not hidden.

Prerequisites  Step 1
Run            python step02_core_features/01_index_comparison.py [--n 20000] [--dim 128] [--indexes HNSW IVF_FLAT]
Docs           docs/step02_core_features.md, section "01 인덱스 비교"
"""

# %%
from __future__ import annotations

import contextlib
import math

from common import cli, indexes
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.errors import BadInput
from common.indexes import check_index, check_search_params, memory, reported_build_params, unapplied_build_params
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, new_figure, save_figure, save_json, table
from common.rows import drop_if_exists, search_ids, vector_rows

from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l1_"
COLLECTION = PREFIX + "vectors"
CANDIDATES = ("FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "HNSW_SQ", "SCANN")
K = 10


# %% [markdown]
# ## Build and search parameters per index


# %%
# docs:begin build-params
def build_params(index_type: str, n: int, dim: int) -> dict:
    """The build parameters this lesson gives each index for ``n`` vectors of ``dim`` dimensions."""
    nlist = int(min(65536, max(16, 2 ** round(math.log2(4 * math.sqrt(n))))))  # rule of thumb: nlist ≈ 4·√N
    return {
        "FLAT": {},  # exact brute force: nothing to build
        "IVF_FLAT": {"nlist": nlist},  # k-means cells; a search scans the nprobe nearest cells
        "IVF_SQ8": {"nlist": nlist},  # IVF + each float stored as 1 byte (4× smaller, slightly lossy)
        # IVF + each vector as m codes of nbits; m must divide dim: the largest divisor <= dim/4 (>= 16× smaller)
        "IVF_PQ": {"nlist": nlist, "m": max(m for m in range(1, max(dim // 4, 1) + 1) if dim % m == 0), "nbits": 8},
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


# %% [markdown]
# ## One collection, rebuilt per index


# %%
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
def rebuild(client, info, index_type: str, build: dict, timeout: float) -> float:
    """Replace the collection's index with ``index_type`` and load it; return build + load seconds.

    ``timeout`` bounds the wait: a server retries a failing build forever, so a build that
    has not finished in time raises ``MilvusException`` instead of hanging the lesson.
    """
    client.release_collection(collection_name=COLLECTION)  # an index can only be dropped when released
    for name in client.list_indexes(collection_name=COLLECTION):
        client.drop_index(collection_name=COLLECTION, index_name=name)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",  # the vector field to index
        index_type=index_type,  # FLAT, IVF_FLAT, HNSW, ...
        metric_type="COSINE",  # must be the metric every search on this field uses
        # the build params; Milvus Lite reads them only from one JSON "params" entry and silently drops the
        # separate keys pymilvus sends, so engine_build_params wraps them for Lite and passes them on unchanged
        # for a server, which reads the keys (describe_index below shows what was applied)
        params=indexes.engine_build_params(info, build),
    )
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


# %% [markdown]
# ## Measure: recall, latency, memory


# %%
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


def memory_row(index_type: str, build: dict | None, n: int, dim: int, note: str = "") -> dict:
    """Memory from the index's arithmetic, with the build params it was built with (None: not reported)."""
    if build is None:
        unknown = "unknown: the engine did not report its build params"
        return {"memory MB": None, "bytes/vector": unknown, "formula inputs": "", "MB for 10M": None}
    mem = memory(index_type, dim, build)
    inputs = ", ".join([f"d={dim}"] + [f"{k}={v}" for k, v in build.items() if k in ("nlist", "m", "nbits", "M")])
    return {
        "memory MB": mem.total_mb(n),
        "bytes/vector": mem.formula,
        "formula inputs": inputs + note,
        "MB for 10M": mem.total_mb(10_000_000),
    }


# %% [markdown]
# ## Build, load and measure one index


# %%
def try_index(client, info, data, truth, index_type: str, args) -> tuple[dict, str | None]:
    """Build, load and measure one index; returns (row, why it has no figures or None)."""
    asked = build_params(index_type, args.n, args.dim)
    row = {"index": index_type, "asked params": asked, "build params": None}
    if index_type not in info.vector_indexes:
        memory_figures = memory_row(index_type, asked, args.n, args.dim, f" (not built on {info.label})")
        return {**row, **memory_figures, "search params": f"not available on {info.label}"}, info.skip_reason(
            index_type
        )
    try:
        with quiet_pymilvus():
            build_s = rebuild(client, info, index_type, asked, args.build_timeout)
    except MilvusException as exc:
        with quiet_pymilvus(), contextlib.suppress(MilvusException):
            client.drop_index(collection_name=COLLECTION, index_name="embedding")  # stop the server retrying it
        row.update(memory_row(index_type, None, args.n, args.dim))
        if info.assumed:  # the engine was described as a newer version: its refusal is the finding
            print(f"  {index_type:9s} {info.refusal(exc)}")
            return {**row, "search params": info.refusal(exc)}, info.refusal(exc)
        print(f"  {index_type:9s} build did not finish: {exc.message.splitlines()[0][:100]}")
        return {**row, "search params": f"build did not finish in {args.build_timeout:.0f} s"}, "failed"
    described = client.describe_index(collection_name=COLLECTION, index_name="embedding")
    applied, missing = reported_build_params(described), unapplied_build_params(described, asked)
    if missing:  # never name a parameter the engine did not build with
        print(f"  {index_type:9s} asked {asked}, but describe_index reports {applied or 'no build params'}")
    params = search_params(index_type, applied)
    check_search_params(index_type, params, K, applied)
    row.update(
        {
            "build params": applied,
            "params applied": not missing,
            **memory_row(index_type, None if missing else applied, args.n, args.dim),
            "search params": params,
            "build+load s": build_s,
            **measure(client, data, truth, params, args.latency_queries),
        }
    )
    print(f"  {index_type:9s} {applied} built in {build_s:.1f} s, recall@10 {row['recall@10']:.3f}")
    return row, None


# %% [markdown]
# ## The plot and the options


# %%
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
    """The index types asked for, checked before any data is made (an unknown one stops the lesson)."""
    if not names:
        raise BadInput("--indexes names no index type", f"name at least one of {', '.join(CANDIDATES)}")
    requested = [check_index(index_type.upper()) for index_type in names]
    for index_type in requested:
        if index_type not in CANDIDATES:
            raise BadInput(f"lesson 2.1 does not compare {index_type}", f"use some of {', '.join(CANDIDATES)}")
    if len(set(requested)) != len(requested):
        raise BadInput(f"--indexes names an index type twice: {' '.join(names)}", "name each index type once")
    return requested


# %% [markdown]
# ## Results


# %%
def explain_build_params(info) -> None:
    """Say once how the build params reach this engine (add_index in ``rebuild``)."""
    if info.behaviour("build_params_as_keys"):
        print("build params go as pymilvus sends them, one key each; describe_index reports what was applied")
        return
    print(
        f"{info.label} ignores build params sent as separate keys (pymilvus 3 sends them that way) and would\n"
        "build with its defaults (HNSW M=16, efConstruction=200; IVF nlist=128). The lesson sends them as one\n"
        "JSON 'params' entry instead (indexes.engine_build_params); describe_index reports what was applied."
    )


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
    if any(r.get("params applied") is False for r in rows):
        print(
            "'params applied: no': describe_index does not report the build params the lesson asked for; "
            "the row shows what it reports."
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


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    args = parse(argv)
    requested = requested_indexes(args.indexes)
    print(f"comparing: {', '.join(requested)}")
    data = make_dataset(args.n, args.dim, args.queries, args.clusters, args.spread, args.seed)
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
    rows, skipped, failed = [], [], []
    with cli.engine(args.uri) as (client, info):
        heading(f"1. Load {args.n:,} × {args.dim}-d vectors ({args.clusters} clusters, spread {args.spread})")
        with Stopwatch() as insert:
            create_and_fill(client, data.base)
        print(f"insert + flush: {insert.seconds:.1f} s")
        heading("2. Build, load and measure each index")
        explain_build_params(info)
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
                    "asked params",
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


# %%
if __name__ == "__main__":
    cli.run(main)
