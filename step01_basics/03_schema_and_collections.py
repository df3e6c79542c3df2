# %% [markdown]
"""
Schema and collection lifecycle: fields, types, create, describe, stats, rename, drop.

What you learn
  - how a schema is built: an INT64 primary key with auto_id, VARCHAR(512),
    FLOAT_VECTOR(384), scalar fields, JSON, ARRAY and dynamic fields;
  - the collection lifecycle: create, list, describe, stats, rename, drop;
  - which other vector types (FLOAT16, BFLOAT16, BINARY, SPARSE) your engine
    accepts — each one is created, filled and searched here, or skipped
    with the reason;
  - what a schema mistake looks like (a vector field without dim) and the fix.

Prerequisites  02_connection_patterns
Run            python step01_basics/03_schema_and_collections.py [--uri URI] [--dim 384]
Docs           docs/step01_basics.md, section "03 스키마와 컬렉션"
"""

# %%
from __future__ import annotations

from common import cli, indexes
from common.connection import quiet_pymilvus
from common.data import clustered_vectors
from common.report import heading, table
from common.rows import count_rows, drop_if_exists, validate_rows

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException, ParamError

PREFIX = "s1_l3_"
BOOKS = PREFIX + "books"
RENAMED = PREFIX + "library"


# %% [markdown]
# ## Vector encodings


# %%
def to_bfloat16_bytes(vector: np.ndarray) -> bytes:
    """float32 → bfloat16 (the top 16 bits, rounded to nearest even), as the raw bytes pymilvus accepts.

    NumPy has no bfloat16 dtype; pymilvus takes BFLOAT16 vectors as bytes or as an
    array of a bfloat16 dtype (from the ml_dtypes package), never as float32.
    """
    bits = np.asarray(vector, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


# (capability, data type, index type, metric, make one vector from a float32 array)
OTHER_VECTOR_TYPES = [
    ("float16_vector", DataType.FLOAT16_VECTOR, "FLAT", "L2", lambda v: v.astype(np.float16)),
    ("bfloat16_vector", DataType.BFLOAT16_VECTOR, "FLAT", "L2", to_bfloat16_bytes),
    ("binary_vector", DataType.BINARY_VECTOR, "BIN_FLAT", "HAMMING", lambda v: np.packbits(v > 0).tobytes()),
    (
        "sparse_vector",
        DataType.SPARSE_FLOAT_VECTOR,
        "SPARSE_INVERTED_INDEX",
        "IP",
        lambda v: {int(i): float(v[i]) for i in np.argsort(-v)[:8]},
    ),
]


# %% [markdown]
# ## A schema, an index, a collection


# %%
# docs:begin schema
def book_schema(dim: int):
    """Every common field type in one schema; dynamic fields take any extra key."""
    schema = MilvusClient.create_schema(
        auto_id=True,  # Milvus generates the INT64 primary keys; rows must not carry "id"
        enable_dynamic_field=True,  # keys not in the schema are kept in a hidden JSON field ($meta)
        description="books for lesson 1.3",  # free text, shown by describe_collection
    )
    schema.add_field(
        field_name="id",  # the name rows and filters use
        datatype=DataType.INT64,  # INT64 or VARCHAR for a primary key
        is_primary=True,  # exactly one field is the primary key
    )
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=512)  # max_length: bytes (UTF-8)
    schema.add_field(field_name="year", datatype=DataType.INT16)  # INT8/16/32/64: pick the smallest that fits
    schema.add_field(field_name="edition", datatype=DataType.INT8)  # 1..127 fits in one byte per row
    schema.add_field(field_name="rating", datatype=DataType.FLOAT)
    schema.add_field(field_name="in_print", datatype=DataType.BOOL)
    schema.add_field(field_name="details", datatype=DataType.JSON)  # nested keys, filterable as details["a"]["b"]
    schema.add_field(
        field_name="tags", datatype=DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8, max_length=32
    )  # at most 8 strings of at most 32 bytes each
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)  # dim is fixed for life
    return schema


def book_index(info):
    """Index parameters: which field to index, how, and with which distance metric."""
    index_params = MilvusClient.prepare_index_params()  # an empty list of index definitions
    index_params.add_index(
        field_name="embedding",  # the vector field to index
        index_type="HNSW",  # a graph index; Step 2 compares FLAT, IVF_*, HNSW, ...
        metric_type="COSINE",  # how similarity is scored: L2, IP or COSINE (lesson 1.4 compares them)
        # engine_build_params: in the form this engine reads (Milvus Lite would drop separate keys, lesson 2.1)
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 64}),  # HNSW: links, build-time list
    )
    return index_params


def create_books(client, info, dim: int) -> None:
    """Create the collection with its schema and index in one call: it is loaded and ready to search."""
    client.create_collection(
        collection_name=BOOKS,  # letters, digits and underscores; unique per database
        schema=book_schema(dim),  # the fields above
        index_params=book_index(info),  # given here, the collection is indexed and loaded at once
        consistency_level="Strong",  # reads see every earlier write (lesson 1.4 measures the cost)
    )


# docs:end


# %% [markdown]
# ## Insert and read back


# %%
def book_rows(dim: int, n: int = 20) -> list[dict]:
    vectors, labels = clustered_vectors(n, dim, n_clusters=4, seed=3)
    genres = ["poetry", "history", "science", "fiction"]
    return [
        {
            "title": f"Book {i}",
            "year": 1950 + 3 * i,
            "edition": 1 + i % 4,
            "rating": round(3 + (i % 5) * 0.4, 1),
            "in_print": i % 3 != 0,
            "details": {"pages": 100 + 10 * i, "publisher": {"city": "Seoul" if i % 2 else "Busan"}},
            "tags": [genres[labels[i]], "paperback" if i % 2 else "hardcover"],
            "embedding": vectors[i].tolist(),
            "shelf": f"S{i % 4}",  # not in the schema: stored as a dynamic field
        }
        for i in range(n)
    ]


# docs:begin insert-query
def insert_books(client, rows: list[dict]) -> dict:
    """Check the rows against the schema, insert them in one call, and flush."""
    validate_rows(client.describe_collection(BOOKS), rows)  # the course's check: names the bad row and field
    result = client.insert(
        collection_name=BOOKS,
        data=rows,  # a list of dicts, one per row: field name → value
    )
    client.flush(
        collection_name=BOOKS,  # seal the growing segments and persist them (row counts settle)
    )
    return result  # {"insert_count": 20, "ids": [...generated keys...]}


def read_back(client) -> list[dict]:
    """A scalar query: filter on JSON and ARRAY fields, return named fields (a dynamic one too)."""
    return client.query(
        collection_name=BOOKS,
        filter='details["publisher"]["city"] == "Seoul" and ARRAY_CONTAINS(tags, "paperback")',  # boolean expression
        output_fields=["title", "year", "tags", "shelf"],  # fields to return ("shelf" is dynamic)
        limit=3,  # at most this many rows
    )


# docs:end


# %% [markdown]
# ## Describe a collection


# %%
def describe_fields(description: dict) -> list[dict]:
    rows = []
    for field in description["fields"]:
        params = dict(field.get("params", {}))
        if field.get("element_type") is not None:
            params["element_type"] = field["element_type"].name
        flags = [name for name in ("is_primary", "auto_id") if field.get(name)]
        rows.append(
            {"field": field["name"], "type": field["type"].name, "params": params or "", "flags": " ".join(flags)}
        )
    return rows


# %% [markdown]
# ## Rename, then drop


# %%
# docs:begin lifecycle
def rename_and_drop(client) -> tuple[bool, bool, int]:
    """Rename keeps the data; drop deletes the collection and all its rows."""
    client.rename_collection(old_name=BOOKS, new_name=RENAMED)
    renamed = client.has_collection(RENAMED) and not client.has_collection(BOOKS)
    rows_kept = count_rows(client, RENAMED)  # query(filter="", output_fields=["count(*)"])
    client.drop_collection(collection_name=RENAMED)
    return renamed, not client.has_collection(RENAMED), rows_kept


# docs:end


# %% [markdown]
# ## A schema mistake and its message


# %%
def schema_mistake(client, dim: int) -> str:
    """A FLOAT_VECTOR without dim: the engine refuses it and creates nothing."""
    broken = MilvusClient.create_schema(auto_id=True)
    broken.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    broken.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR)  # no dim
    with quiet_pymilvus():
        try:
            client.create_collection(collection_name=PREFIX + "broken", schema=broken)
        except MilvusException as exc:
            return exc.message
    return ""


# %% [markdown]
# ## Other vector types on this engine


# %%
def try_vector_type(client: MilvusClient, info, capability, dtype, index_type, metric, make) -> str:
    """Create, fill and search a small collection with one vector field of ``dtype``."""
    if not info.has(capability):
        return info.skip_reason(capability)
    name = f"{PREFIX}{dtype.name.lower()}"
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        schema.add_field(field_name="vector", datatype=dtype)  # sparse vectors have no fixed dim
    else:
        schema.add_field(field_name="vector", datatype=dtype, dim=64)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="vector", index_type=index_type, metric_type=metric)
    vectors, _ = clustered_vectors(50, 64, n_clusters=5, seed=4, normalized=False)
    drop_if_exists(client, name)
    try:
        client.create_collection(
            collection_name=name, schema=schema, index_params=index_params, consistency_level="Strong"
        )
        inserted = client.insert(collection_name=name, data=[{"vector": make(v)} for v in vectors])["ids"]
        client.flush(collection_name=name)
        hits = client.search(
            collection_name=name,
            data=[make(vectors[7])],  # a list of query vectors (here one), in the field's own encoding
            anns_field="vector",  # which vector field to search
            limit=3,  # top-k: how many hits per query
        )[0]  # one result list per query vector
    except (MilvusException, ParamError) as exc:  # an engine that lacks the type (only when its version was assumed)
        return info.refusal(exc)
    finally:
        drop_if_exists(client, name)
    ids = [hit["id"] for hit in hits]
    rank = ids.index(inserted[7]) + 1 if inserted[7] in ids else None
    if rank is None:
        return "FAILED: row 7 not in its own top-3"
    return f"ok: 50 rows; searching with row 7's vector finds row 7 at rank {rank}"


# %% [markdown]
# ## The sections


# %%
def create_and_describe(client, info, dim: int) -> tuple[list[dict], dict]:
    heading("1. Create a collection from a schema")
    create_books(client, info, dim)
    print(
        f"created {BOOKS!r}; has_collection → {client.has_collection(BOOKS)}; "
        f"load state → {client.get_load_state(BOOKS)['state'].name}"
    )
    print(f"our collections: {sorted(c for c in client.list_collections() if c.startswith(PREFIX))}")

    heading("2. Describe it")
    description = client.describe_collection(BOOKS)
    fields = describe_fields(description)
    table(fields)
    print(
        f"dynamic fields: {description['enable_dynamic_field']}; "
        f"consistency: {description.get('consistency_level_name', '?')}; shards: {description.get('num_shards')}"
    )
    index = client.describe_index(collection_name=BOOKS, index_name="embedding")
    built = indexes.reported_build_params(index)
    print(f"index on 'embedding': {index['index_type']}, {index['metric_type']}, built with {built}")
    return fields, built


def insert_and_read(client, dim: int) -> tuple[int, list[dict]]:
    heading("3. Insert, then stats and a filtered query")
    result = insert_books(client, book_rows(dim))
    stats = client.get_collection_stats(BOOKS)
    row_count = count_rows(client, BOOKS)
    print(f"inserted {result['insert_count']} rows; auto_id gave keys like {list(result['ids'])[:3]}")
    print(f"get_collection_stats → {stats}; count(*) → {row_count}")
    sample = read_back(client)
    table([{k: row[k] for k in ("title", "year", "tags", "shelf")} for row in sample])
    print("↑ a JSON-path filter, an ARRAY filter, and the dynamic field 'shelf' read back like any other field")
    return row_count, sample


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument(
        "--dim", type=cli.int_range(8, 32_768), default=384, help="vector dimension (default 384, all-MiniLM-L6-v2)"
    )
    args = parser.parse_args(argv)

    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, BOOKS, RENAMED)
        fields, built = create_and_describe(client, info, args.dim)
        row_count, sample = insert_and_read(client, args.dim)

        heading("4. Rename, then drop")
        renamed_ok, dropped_ok, kept = rename_and_drop(client)
        print(f"renamed {BOOKS!r} → {RENAMED!r}: {renamed_ok}; rows kept: {kept}; dropped {RENAMED!r}: {dropped_ok}")

        heading("5. A schema mistake and its message")
        mistake = schema_mistake(client, args.dim)
        print(f"FLOAT_VECTOR without dim → {mistake or 'accepted'}")
        print(
            f"fix: add_field(field_name='embedding', datatype=DataType.FLOAT_VECTOR, dim={args.dim}); "
            f"the collection was not created: {not client.has_collection(PREFIX + 'broken')}"
        )

        heading("6. Other vector types on this engine")
        outcomes = {}
        with quiet_pymilvus():
            for capability, dtype, index_type, metric, make in OTHER_VECTOR_TYPES:
                outcomes[dtype.name] = try_vector_type(client, info, capability, dtype, index_type, metric, make)
        table([{"vector type": name, "result": text} for name, text in outcomes.items()])

    skipped = [f"{name}: {text}" for name, text in outcomes.items() if text.startswith("skipped")]
    failed = [name for name, text in outcomes.items() if text.startswith("FAILED")]
    refused = [f"{name}: {text}" for name, text in outcomes.items() if text.startswith("refused")]
    return {
        "headline": f"{len(fields)} fields, {row_count} rows; "
        f"{len(outcomes) - len(skipped)}/{len(outcomes)} extra vector types",
        "engine": info.kind,
        "fields": {f["field"]: f["type"] for f in fields},
        "build_params": built,
        "rows": row_count,
        "rows_after_rename": kept,
        "filtered_rows": len(sample),
        "renamed": renamed_ok,
        "dropped": dropped_ok,
        "schema_error": mistake,
        "vector_types": outcomes,
        "vector_types_failed": failed,
        "refused": refused,
        "skipped": skipped,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
