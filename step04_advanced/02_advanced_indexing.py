"""Advanced indexing: GPU indexes (with an explicit CPU fallback) and scalar indexes.

What you learn
  - GPU_IVF_FLAT and GPU_CAGRA run only on a Milvus GPU build (docker-compose.gpu.yml,
    MILVUS_GPU=true). The choice is made *before* building: a CPU server
    accepts a GPU index and then never finishes building it. Without a GPU
    this lesson builds the documented CPU equivalents (IVF_FLAT, HNSW) and
    says so;
  - scalar indexes (INVERTED, or Trie / STL_SORT on 2.3 servers) on the
    filtered fields, and their measured effect on filtered search and query
    latency — with identical results before and after;
  - "composite" indexes: Milvus indexes each field on its own; a filter on
    several fields uses several indexes. There is no multi-column index.

Prerequisites  Step 2
Run            python step04_advanced/02_advanced_indexing.py [--n 20000] [--dim 64]
Docs           docs/step04_advanced.md, section "02 고급 인덱싱"
"""

from __future__ import annotations

from common import cli
from common.data import exact_topk, make_dataset
from common.indexes import build_params
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, table
from common.schemas import drop_if_exists, recreate_collection, search_ids, vector_index, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

PREFIX = "s4_l2_"
COLLECTION = PREFIX + "items"
K = 10
GPU_FALLBACK = {"GPU_IVF_FLAT": "IVF_FLAT", "GPU_CAGRA": "HNSW"}


def items_schema(dim: int):
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("category", DataType.VARCHAR, max_length=16)
    s.add_field("price", DataType.INT64)
    s.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    return s


def scalar_index_for(info, dtype: DataType) -> str | None:
    """The scalar index this engine offers for a field type (INVERTED first)."""
    if "INVERTED" in info.scalar_indexes:
        return "INVERTED"
    if dtype == DataType.VARCHAR and "Trie" in info.scalar_indexes:
        return "Trie"
    if dtype != DataType.VARCHAR and "STL_SORT" in info.scalar_indexes:
        return "STL_SORT"
    return None


def gpu_section(client, info, data, truth) -> list[dict]:
    rows = []
    for wanted, fallback in GPU_FALLBACK.items():
        built = wanted if info.has("gpu_index") else fallback
        client.release_collection(COLLECTION)
        for name in client.list_indexes(COLLECTION):
            if client.describe_index(COLLECTION, name)["field_name"] == "embedding":
                client.drop_index(COLLECTION, name)
        params = build_params(built, len(data.base), data.base.shape[1])
        with Stopwatch() as sw:
            client.create_index(COLLECTION, vector_index("embedding", built, "L2" if built.startswith("GPU") else "COSINE", **params),
                                timeout=300)
            client.load_collection(COLLECTION, timeout=300)
        search = {"params": {"nprobe": 16}} if "IVF" in built else {"params": {"itopk_size": 64} if built == "GPU_CAGRA" else {"ef": 64}}
        recall = recall_at_k(search_ids(client, COLLECTION, data.queries, K, search_params=search), truth, K)
        note = "GPU build" if built == wanted else f"fallback: no GPU on {info.label} (set MILVUS_GPU=true with docker-compose.gpu.yml)"
        rows.append({"wanted": wanted, "built": built, "build+load s": sw.seconds, "recall@10": recall, "note": note})
    return rows


def filtered_latency(client, queries, expr: str) -> tuple[float, float, list]:
    search = time_calls(lambda q: client.search(COLLECTION, [q], limit=K, filter=expr, consistency_level="Bounded"),
                        queries, warmup=3)
    query = time_calls(lambda _: client.query(COLLECTION, filter=expr, output_fields=["id"], limit=1000,
                                              consistency_level="Bounded"), range(30), warmup=2)
    ids = sorted(row["id"] for row in client.query(COLLECTION, filter=expr, output_fields=["id"], limit=16384))
    return search.p50_ms, query.p50_ms, ids


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=60, spread=1.0, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    categories = [f"c{i:03d}" for i in rng.integers(0, 200, size=args.n)]
    prices = rng.integers(0, 10_000, size=args.n)
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
    skipped = []
    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, COLLECTION)
        recreate_collection(client, COLLECTION, items_schema(args.dim))
        rows = vector_rows(data.base, id=range(args.n), category=categories, price=prices.tolist())
        for start in range(0, args.n, 5000):
            client.insert(COLLECTION, rows[start : start + 5000])
        client.flush(COLLECTION)

        heading("1. GPU indexes, decided up front")
        gpu = gpu_section(client, info, data, truth)
        table(gpu)
        if not info.has("gpu_index"):
            skipped.append(f"gpu: {info.skip_reason('gpu_index')} — built the CPU fallback")

        heading("2. Scalar indexes and filtered search")
        expr = 'category == "c007" and price < 5000'
        queries = data.queries.tolist()
        before = filtered_latency(client, queries, expr)
        chosen = {"category": scalar_index_for(info, DataType.VARCHAR), "price": scalar_index_for(info, DataType.INT64)}
        client.release_collection(COLLECTION)
        index_params = MilvusClient.prepare_index_params()
        for field, index_type in chosen.items():
            if index_type:
                index_params.add_index(field_name=field, index_type=index_type, index_name=f"{field}_idx")
        with Stopwatch() as scalar_build:
            client.create_index(COLLECTION, index_params, timeout=300)
            client.load_collection(COLLECTION)
        after = filtered_latency(client, queries, expr)
        table([
            {"scalar indexes": "none", "search p50 ms": before[0], "query p50 ms": before[1], "matching rows": len(before[2])},
            {"scalar indexes": ", ".join(f"{f}: {t}" for f, t in chosen.items()), "search p50 ms": after[0],
             "query p50 ms": after[1], "matching rows": len(after[2])},
        ])
        indexes = {name: client.describe_index(COLLECTION, name) for name in client.list_indexes(COLLECTION)}
        print(f"filter: {expr}; same rows before and after: {before[2] == after[2]}; scalar build {scalar_build.seconds:.1f} s")
        ratio = before[1] / after[1]
        if ratio < 1.2:
            print(f"query p50 ratio {ratio:.2f}: no measurable gain at {args.n:,} rows — scanning that many scalars is cheap.\n"
                  "Scalar indexes pay off at millions of rows and selective filters; measure with --n on a server.")
        else:
            print(f"the scalar indexes made the filtered query {ratio:.1f}× faster at the median")
        heading("3. One index per field (no multi-column index)")
        table([{"index name": name, "field": d["field_name"], "type": d["index_type"]} for name, d in indexes.items()])
        print("A filter on category AND price uses the category index and the price index separately and\n"
              "intersects the matches; to make a pair of fields one key, store them in one field.")
        drop_if_exists(client, COLLECTION)

    speedup = before[1] / after[1] if after[1] else float("nan")
    return {
        "headline": f"GPU: {'built' if info.has('gpu_index') else 'CPU fallback'}; scalar index query {speedup:.1f}× "
                    f"({before[1]:.1f} → {after[1]:.1f} ms p50)",
        "engine": info.kind,
        "gpu": gpu,
        "scalar_indexes": chosen,
        "search_p50_ms": {"before": before[0], "after": after[0]},
        "query_p50_ms": {"before": before[1], "after": after[1]},
        "same_rows": before[2] == after[2],
        "matching_rows": len(after[2]),
        "indexes": {name: d["index_type"] for name, d in indexes.items()},
        "skipped": skipped,
    }


if __name__ == "__main__":
    cli.run(main)
