# %% [markdown]
"""
Memory-saving and newer indexes: AUTOINDEX measured, IVF_RABITQ / HNSW_PQ / HNSW_PRQ / DISKANN where built.

What you learn
  - AUTOINDEX (the engine chooses the index and its parameters): what it reports, its recall@10 against
    exact NumPy search and its build time — on Milvus Lite 3.2.2 it builds an HNSW graph;
  - IVF_RABITQ (Milvus 2.6; 1 bit per dimension, the docs' replacement for IVF_SQ8/IVF_FLAT when memory
    is tight), HNSW_PQ and HNSW_PRQ (Milvus 2.6 in this course's index table) and DISKANN (graph on SSD,
    PQ codes in memory: MaxDegree, SearchListSize, PQCodeBudgetGBRatio, search_list) — built and measured
    where the engine has them, the engine's own refusal printed elsewhere;
  - scalar indexes for filters — BITMAP (2.5), NGRAM (2.6.2), a JSON path index (2.5.7) — the same way;
  - bytes per vector for each type, with the arithmetic written out, for N vectors of d dimensions.

Prerequisites  01_index_comparison
Run            python step02_core_features/09_compact_indexes.py [--n 3000] [--dim 64]
Docs           docs/step02_core_features.md, section "09 메모리를 아끼는 인덱스"
"""

# %%
from __future__ import annotations

import time

from common import cli, indexes
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.metrics import recall_at_k
from common.report import heading, table
from common.rows import drop_if_exists, vector_rows

from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l9_"
VECTORS = PREFIX + "vectors"
K = 10
COMPACT = ("AUTOINDEX", "HNSW", "IVF_SQ8", "IVF_RABITQ", "HNSW_PQ", "HNSW_PRQ", "DISKANN")
SEARCH = {  # the search knob of each type, at a value that reaches good recall on this data
    "AUTOINDEX": {},
    "HNSW": {"ef": 64},
    "IVF_SQ8": {"nprobe": 16},
    "IVF_RABITQ": {"nprobe": 16, "rbq_query_bits": 0, "refine_k": 2},
    "HNSW_PQ": {"ef": 64, "refine_k": 2},
    "HNSW_PRQ": {"ef": 64, "refine_k": 2},
    "DISKANN": {"search_list": 64},  # candidate list, >= limit (default 16)
}
SCALAR = {  # field, index type, params, the capability it needs
    "BITMAP": ("tag", "BITMAP", {}, "bitmap_index"),
    "NGRAM": ("title", "NGRAM", {"min_gram": 2, "max_gram": 3}, "ngram_index"),
    "JSON path": ("meta", "INVERTED", {"json_path": 'meta["brand"]', "json_cast_type": "varchar"}, "json_index"),
}


# %% [markdown]
# ## Build and search one index


# %%
# docs:begin build
def build_params_for(index_type: str, n: int, dim: int) -> dict:
    """What each type is built with here; AUTOINDEX takes none (the engine decides)."""
    if index_type == "AUTOINDEX":
        return {}
    params = indexes.build_params(index_type, n, dim)
    if index_type in ("IVF_RABITQ", "HNSW_PQ", "HNSW_PRQ"):
        params |= {"refine": True, "refine_type": "SQ8"}  # keep SQ8 codes to re-rank the shortlist
    if index_type == "DISKANN":
        params = {"max_degree": 56, "search_list_size": 100}  # Vamana graph degree, build candidate list
    return params


def build_and_search(client, info, index_type: str, data) -> tuple[list, dict, float]:
    """Build one index on a fresh collection, load it and search every query."""
    drop_if_exists(client, VECTORS)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=data.base.shape[1])
    client.create_collection(collection_name=VECTORS, schema=schema, consistency_level="Strong")
    client.insert(collection_name=VECTORS, data=vector_rows(data.base, id=range(len(data.base))))
    client.flush(collection_name=VECTORS)
    started = time.perf_counter()
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type=index_type,
        metric_type="COSINE",
        params=indexes.engine_build_params(info, build_params_for(index_type, *data.base.shape)),
    )
    client.create_index(collection_name=VECTORS, index_params=index_params)
    client.load_collection(collection_name=VECTORS)
    seconds = time.perf_counter() - started
    hits = client.search(
        collection_name=VECTORS,
        data=data.queries.tolist(),
        anns_field="embedding",
        limit=K,
        search_params={"metric_type": "COSINE", "params": SEARCH[index_type]},
    )
    return [[h["id"] for h in q] for q in hits], client.describe_index(VECTORS, "embedding"), seconds


# docs:end


# %% [markdown]
# ## Memory per vector


# %%
def memory_row(index_type: str, n: int, dim: int) -> dict:
    """Bytes per vector from each type's arithmetic (sources in docs/step02_core_features.md, section 09)."""
    params = build_params_for(index_type, n, dim)
    if index_type == "IVF_RABITQ":  # 1 bit per dimension + 2 float32 correction factors + the id; SQ8 refine codes
        per, formula = dim / 8 + 8 + 8 + dim, "d/8 + 8 (corrections) + 8 (id) + d (SQ8 refine)"
    elif index_type == "DISKANN":  # in memory: PQ codes at PQCodeBudgetGBRatio 0.125 of the raw vectors
        per, formula = 0.125 * 4 * dim + 8, "0.125·4·d (PQ codes; graph + raw vectors on disk) + 8"
    elif index_type == "AUTOINDEX":
        return {"index": index_type, "bytes/vector": None, "GiB for 100M": None, "formula": "what the engine picked"}
    else:
        if index_type.startswith("HNSW_P"):
            params = {k: v for k, v in params.items() if k not in ("refine", "refine_type")}
        estimate = indexes.memory(index_type, dim, params)
        per, formula = estimate.bytes_per_vector, estimate.formula
        if index_type.startswith("HNSW_P"):
            per, formula = per + dim, formula + " + d (SQ8 refine)"
    return {
        "index": index_type,
        "bytes/vector": round(per, 1),
        "GiB for 100M": round(per * 1e8 / 2**30, 1),
        "formula": formula,
    }


# %% [markdown]
# ## Vector indexes against exact NumPy search


# %%
def vector_indexes(client, info, data, truth) -> list[dict]:
    rows = []
    for index_type in COMPACT:
        row = {"index": index_type}
        if index_type != "AUTOINDEX" and index_type not in info.vector_indexes:
            row["skipped"] = info.skip_reason(f"index {index_type}")
            if info.kind == "lite":  # Lite refuses at create_index; a 2.3 server may accept DISKANN and never build it
                row["engine says"] = lite_says(client, info, index_type, data)
            rows.append(row)
            continue
        try:
            with quiet_pymilvus():
                found, description, seconds = build_and_search(client, info, index_type, data)
        except MilvusException as exc:
            rows.append(row | {"refused": info.refusal(exc)})
            continue
        row |= {
            "recall@10": recall_at_k(found, truth, K),
            "build+load s": round(seconds, 2),
            "reported": {k: v for k, v in description.items() if k in ("index_type", "params", "M")},
        }
        rows.append(row)
    drop_if_exists(client, VECTORS)
    return rows


def lite_says(client, info, index_type: str, data) -> str:
    try:
        with quiet_pymilvus():
            build_and_search(client, info, index_type, data)
        return "built (unexpected)"
    except MilvusException as exc:
        return exc.message.strip().splitlines()[0][:110]


# %% [markdown]
# ## Scalar indexes for filters


# %%
def scalar_indexes(client, info) -> list[dict]:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="tag", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=64)
    schema.add_field(field_name="meta", datatype=DataType.JSON)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=4)
    drop_if_exists(client, VECTORS)
    client.create_collection(collection_name=VECTORS, schema=schema)
    rows = []
    for name, (field, index_type, params, capability) in SCALAR.items():
        has = "BITMAP" in info.scalar_indexes if capability == "bitmap_index" else info.has(capability)
        index_params = MilvusClient.prepare_index_params()
        index_params.add_index(field_name=field, index_type=index_type, index_name=f"{field}_idx", params=params)
        error = None
        try:
            with quiet_pymilvus():
                client.create_index(collection_name=VECTORS, index_params=index_params)
            outcome = "built"
        except MilvusException as exc:
            error, outcome = exc, "refused: " + exc.message.strip().splitlines()[0][:100]
        row = {"index": name, "field": field, "engine": outcome}
        if not has:
            row["skipped"] = info.skip_reason(capability)
        elif error is not None:
            row["refused"] = info.refusal(error)
        rows.append(row)
    drop_if_exists(client, VECTORS)
    return rows


# %% [markdown]
# ## Run the sections in order


# %%
def notes(row: dict, columns: tuple[str, ...]) -> dict:
    """One table row with the same columns for every index: figures, then why a row has none."""
    return {
        "index": row["index"],
        **{c: row.get(c) for c in columns},
        "note": row.get("skipped") or row.get("refused") or "",
        "engine says": row.get("engine says", ""),
    }


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(1000, 1_000_000), default=3000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument("--queries", type=cli.int_range(10, 10_000), default=100)
    parser.add_argument("--seed", type=cli.SEED, default=9)
    args = parser.parse_args(argv)
    data = make_dataset(args.n, args.dim, args.queries, n_clusters=60, spread=1.0, seed=args.seed)
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
    with cli.engine(args.uri) as (client, info):
        heading(f"1. Vector indexes on {args.n:,} x {args.dim}: recall@10 against exact NumPy search")
        built = vector_indexes(client, info, data, truth)
        table([notes(r, ("recall@10", "build+load s", "reported")) for r in built])
        heading("2. Scalar indexes for filters")
        scalars = scalar_indexes(client, info)
        table([notes(r, ("field", "engine")) for r in scalars])
    heading(f"3. Memory per vector (d = {args.dim}), and for 100M vectors")
    memory = [memory_row(t, args.n, args.dim) for t in COMPACT]
    table(memory)
    by_name = {r["index"]: r for r in built}
    skipped = [f"{r['index']}: {r['skipped']}" for r in built + scalars if "skipped" in r]
    refused = [f"{r['index']}: {r['refused']}" for r in built + scalars if "refused" in r]
    auto = by_name["AUTOINDEX"]
    headline = (
        f"AUTOINDEX recall@10 {auto['recall@10']:.3f} vs HNSW {by_name['HNSW'].get('recall@10')}"
        if "recall@10" in auto
        else auto.get("refused", "")
    )
    return {
        "headline": headline,
        "engine": info.kind,
        "vector": by_name,
        "scalar": scalars,
        "memory": {r["index"]: r for r in memory},
        "skipped": skipped,
        "refused": refused,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
