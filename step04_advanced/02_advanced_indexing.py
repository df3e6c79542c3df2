# %% [markdown]
"""
Advanced indexing: GPU indexes (with an explicit CPU fallback) and scalar indexes.

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

# %%
from __future__ import annotations

from common import cli, indexes
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.indexes import build_params, reported_build_params
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, table
from common.rows import drop_if_exists, search_ids, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s4_l2_"
COLLECTION = PREFIX + "items"
K = 10
GPU_FALLBACK = {"GPU_IVF_FLAT": "IVF_FLAT", "GPU_CAGRA": "HNSW"}


# %% [markdown]
# ## The collection, and the scalar index each field gets


# %%
def create_items(client, dim: int) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="category", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(field_name="price", datatype=DataType.INT64)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    drop_if_exists(client, COLLECTION)
    client.create_collection(collection_name=COLLECTION, schema=schema, consistency_level="Strong")


def scalar_index_for(info, dtype: DataType) -> str | None:
    """The scalar index this engine offers for a field type (INVERTED first)."""
    if "INVERTED" in info.scalar_indexes:
        return "INVERTED"
    if dtype == DataType.VARCHAR and "Trie" in info.scalar_indexes:
        return "Trie"
    if dtype != DataType.VARCHAR and "STL_SORT" in info.scalar_indexes:
        return "STL_SORT"
    return None


# %% [markdown]
# ## GPU indexes, decided up front


# %%
# docs:begin gpu
def gpu_index_params(info, built: str, n: int, dim: int):
    """GPU_IVF_FLAT {"nlist"} / GPU_CAGRA {"intermediate_graph_degree", "graph_degree"}, or the CPU fallback."""
    params = build_params(built, n, dim)  # e.g. GPU_CAGRA: {"intermediate_graph_degree": 64, "graph_degree": 32}
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type=built,
        params=indexes.engine_build_params(info, params),  # as one JSON entry where Lite would drop the keys (2.1)
        metric_type="L2" if built.startswith("GPU") else "COSINE",
    )  # GPU indexes: L2 or IP
    return index_params


def gpu_search_params(built: str) -> dict:
    if "IVF" in built:
        return {"params": {"nprobe": 16}}
    return {"params": {"itopk_size": 64} if built == "GPU_CAGRA" else {"ef": 64}}  # CAGRA's candidate list


# docs:end


def gpu_section(client, info, data, truth) -> list[dict]:
    rows = []
    for wanted, fallback in GPU_FALLBACK.items():
        built = wanted if info.has("gpu_index") else fallback  # decided up front: a CPU server accepts, never builds
        client.release_collection(collection_name=COLLECTION)
        for name in client.list_indexes(collection_name=COLLECTION):
            if client.describe_index(COLLECTION, name)["field_name"] == "embedding":
                client.drop_index(collection_name=COLLECTION, index_name=name)
        with Stopwatch() as sw:
            client.create_index(
                collection_name=COLLECTION,
                timeout=300,
                index_params=gpu_index_params(info, built, len(data.base), data.base.shape[1]),
            )
            client.load_collection(collection_name=COLLECTION, timeout=300)
        applied = reported_build_params(client.describe_index(collection_name=COLLECTION, index_name="embedding"))
        found = search_ids(client, COLLECTION, data.queries, K, search_params=gpu_search_params(built))
        note = (
            "GPU build"
            if built == wanted
            else f"fallback: no GPU on {info.label} (set MILVUS_GPU=true with docker-compose.gpu.yml)"
        )
        rows.append(
            {
                "wanted": wanted,
                "built": built,
                "build params": applied,  # as describe_index reports them
                "build+load s": sw.seconds,
                "recall@10": recall_at_k(found, truth, K),
                "note": note,
            }
        )
    return rows


# %% [markdown]
# ## Scalar indexes and filtered search


# %%
def filtered_latency(client, queries, expr: str) -> tuple[float, float, list]:
    search = time_calls(
        lambda q: client.search(
            collection_name=COLLECTION, data=[q], limit=K, filter=expr, consistency_level="Bounded"
        ),
        queries,
        warmup=3,
    )
    query = time_calls(
        lambda _: client.query(
            collection_name=COLLECTION, filter=expr, output_fields=["id"], limit=1000, consistency_level="Bounded"
        ),
        range(30),
        warmup=2,
    )
    ids = sorted(
        row["id"] for row in client.query(collection_name=COLLECTION, filter=expr, output_fields=["id"], limit=16384)
    )
    return search.p50_ms, query.p50_ms, ids


# docs:begin scalar
def add_scalar_indexes(client, chosen: dict) -> float:
    """One scalar index per filtered field (INVERTED, or STL_SORT / Trie on older servers); returns build seconds."""
    client.release_collection(collection_name=COLLECTION)
    index_params = MilvusClient.prepare_index_params()
    for field, index_type in chosen.items():
        if index_type:
            index_params.add_index(field_name=field, index_type=index_type, index_name=f"{field}_idx")
    with Stopwatch() as sw:
        client.create_index(collection_name=COLLECTION, index_params=index_params, timeout=300)
        client.load_collection(collection_name=COLLECTION)
    return sw.seconds


# docs:end


def scalar_section(client, info, queries, n: int) -> dict:
    heading("2. Scalar indexes and filtered search")
    expr = 'category == "c007" and price < 5000'
    before = filtered_latency(client, queries, expr)
    chosen = {"category": scalar_index_for(info, DataType.VARCHAR), "price": scalar_index_for(info, DataType.INT64)}
    try:
        with quiet_pymilvus():  # a refusal is reported below; pymilvus would also log a traceback
            build_s = add_scalar_indexes(client, chosen)
    except MilvusException as exc:  # only when the engine was described as newer than it is
        refused = info.refusal(exc)
        client.load_collection(collection_name=COLLECTION)
        print(f"scalar indexes {chosen}: {refused}")
        return {"chosen": {}, "before": before, "after": before, "refused": refused}
    after = filtered_latency(client, queries, expr)
    table(
        [
            {
                "scalar indexes": "none",
                "search p50 ms": before[0],
                "query p50 ms": before[1],
                "matching rows": len(before[2]),
            },
            {
                "scalar indexes": ", ".join(f"{f}: {t}" for f, t in chosen.items()),
                "search p50 ms": after[0],
                "query p50 ms": after[1],
                "matching rows": len(after[2]),
            },
        ]
    )
    print(f"filter: {expr}; same rows before and after: {before[2] == after[2]}; scalar build {build_s:.1f} s")
    ratio = before[1] / after[1]
    if ratio < 1.2:
        print(
            f"query p50 ratio {ratio:.2f}: no measurable gain at {n:,} rows — scanning that many scalars is cheap.\n"
            "Scalar indexes pay off at millions of rows and selective filters; measure with --n on a server."
        )
    else:
        print(f"the scalar indexes made the filtered query {ratio:.1f}× faster at the median")
    return {"chosen": chosen, "before": before, "after": after}


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(1000, 2_000_000), default=20000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument("--queries", type=cli.int_range(2, 100_000), default=50)
    parser.add_argument("--seed", type=cli.SEED, default=8)
    args = parser.parse_args(argv)

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=60, spread=1.0, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    categories = [f"c{i:03d}" for i in rng.integers(0, 200, size=args.n)]
    prices = rng.integers(0, 10_000, size=args.n)
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
    skipped = []
    with cli.engine(args.uri) as (client, info):
        create_items(client, args.dim)
        rows = vector_rows(data.base, id=range(args.n), category=categories, price=prices.tolist())
        for start in range(0, args.n, 5000):
            client.insert(collection_name=COLLECTION, data=rows[start : start + 5000])
        client.flush(collection_name=COLLECTION)
        heading("1. GPU indexes, decided up front")
        gpu = gpu_section(client, info, data, truth)
        table(gpu)
        if not info.has("gpu_index"):
            skipped.append(f"gpu: {info.skip_reason('gpu_index')} — built the CPU fallback")
        scalar = scalar_section(client, info, data.queries.tolist(), args.n)
        described = {name: client.describe_index(COLLECTION, name) for name in client.list_indexes(COLLECTION)}
        heading("3. One index per field (no multi-column index)")
        table(
            [{"index name": name, "field": d["field_name"], "type": d["index_type"]} for name, d in described.items()]
        )
        print(
            "A filter on category AND price uses the category index and the price index separately and\n"
            "intersects the matches; to make a pair of fields one key, store them in one field."
        )
        drop_if_exists(client, COLLECTION)

    before, after = scalar["before"], scalar["after"]
    speedup = before[1] / after[1] if after[1] else float("nan")
    return {
        "headline": f"GPU: {'built' if info.has('gpu_index') else 'CPU fallback'}; scalar index query {speedup:.1f}× "
        f"({before[1]:.1f} → {after[1]:.1f} ms p50)",
        "engine": info.kind,
        "gpu": gpu,
        "scalar_indexes": scalar["chosen"],
        "search_p50_ms": {"before": before[0], "after": after[0]},
        "query_p50_ms": {"before": before[1], "after": after[1]},
        "same_rows": before[2] == after[2],
        "matching_rows": len(after[2]),
        "indexes": {name: d["index_type"] for name, d in described.items()},
        "skipped": skipped,
        "refused": [f"scalar indexes: {scalar['refused']}"] if "refused" in scalar else [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
