"""Schema and collection lifecycle: fields, types, create, describe, stats, rename, drop.

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

from __future__ import annotations

from common import cli
from common.connection import quiet_pymilvus
from common.data import clustered_vectors
from common.report import heading, table
from common.schemas import count_rows, drop_if_exists, insert_checked, recreate_collection, vector_index

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s1_l3_"
BOOKS = PREFIX + "books"
RENAMED = PREFIX + "library"

# (capability, data type, index type, metric, make one vector from a float32 array)
OTHER_VECTOR_TYPES = [
    ("float16_vector", DataType.FLOAT16_VECTOR, "FLAT", "L2", lambda v: v.astype(np.float16)),
    ("bfloat16_vector", DataType.BFLOAT16_VECTOR, "FLAT", "L2", lambda v: v.astype(np.float32)),
    ("binary_vector", DataType.BINARY_VECTOR, "BIN_FLAT", "HAMMING", lambda v: np.packbits(v > 0).tobytes()),
    ("sparse_vector", DataType.SPARSE_FLOAT_VECTOR, "SPARSE_INVERTED_INDEX", "IP",
     lambda v: {int(i): float(v[i]) for i in np.argsort(-v)[:8]}),
]


def book_schema(dim: int):
    """Every common field type in one schema; dynamic fields take any extra key."""
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=True, description="books for lesson 1.3")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title", DataType.VARCHAR, max_length=512)
    schema.add_field("year", DataType.INT16)
    schema.add_field("rating", DataType.FLOAT)
    schema.add_field("in_print", DataType.BOOL)
    schema.add_field("details", DataType.JSON)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8, max_length=32)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def book_rows(dim: int, n: int = 20) -> list[dict]:
    vectors, labels = clustered_vectors(n, dim, n_clusters=4, seed=3)
    genres = ["poetry", "history", "science", "fiction"]
    return [
        {
            "title": f"Book {i}", "year": 1950 + 3 * i, "rating": round(3 + (i % 5) * 0.4, 1),
            "in_print": i % 3 != 0, "details": {"pages": 100 + 10 * i, "publisher": {"city": "Seoul" if i % 2 else "Busan"}},
            "tags": [genres[labels[i]], "paperback" if i % 2 else "hardcover"], "embedding": vectors[i].tolist(),
            "shelf": f"S{i % 4}",  # not in the schema: stored as a dynamic field
        }
        for i in range(n)
    ]


def describe_fields(description: dict) -> list[dict]:
    rows = []
    for field in description["fields"]:
        params = dict(field.get("params", {}))
        if field.get("element_type") is not None:
            params["element_type"] = field["element_type"].name
        flags = [name for name in ("is_primary", "auto_id") if field.get(name)]
        rows.append({"field": field["name"], "type": field["type"].name, "params": params or "", "flags": " ".join(flags)})
    return rows


def try_vector_type(client: MilvusClient, info, capability, dtype, index_type, metric, make) -> str:
    """Create, fill and search a small collection with one vector field of ``dtype``."""
    if not info.has(capability):
        return info.skip_reason(capability)
    name = f"{PREFIX}{dtype.name.lower()}"
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        schema.add_field("vector", dtype)
    else:
        schema.add_field("vector", dtype, dim=64)
    recreate_collection(client, name, schema, vector_index("vector", index_type, metric))
    vectors, _ = clustered_vectors(50, 64, n_clusters=5, seed=4, normalized=False)
    inserted = client.insert(name, [{"vector": make(v)} for v in vectors])["ids"]
    client.flush(name)
    hits = client.search(name, [make(vectors[7])], anns_field="vector", limit=3)[0]
    client.drop_collection(name)
    ids = [hit["id"] for hit in hits]
    rank = ids.index(inserted[7]) + 1 if inserted[7] in ids else None
    if rank is None:
        return "FAILED: row 7 not in its own top-3"
    return f"ok: 50 rows; searching with row 7's vector finds row 7 at rank {rank}"


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--dim", type=int, default=384, help="vector dimension (default 384, all-MiniLM-L6-v2)")
    args = parser.parse_args(argv)

    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, BOOKS, RENAMED)

        heading("1. Create a collection from a schema")
        schema = book_schema(args.dim)
        index = vector_index("embedding", "HNSW", "COSINE", M=16, efConstruction=64)
        recreate_collection(client, BOOKS, schema, index)
        print(f"created {BOOKS!r}; has_collection → {client.has_collection(BOOKS)}")
        print(f"our collections: {sorted(c for c in client.list_collections() if c.startswith(PREFIX))}")

        heading("2. Describe it")
        description = client.describe_collection(BOOKS)
        fields = describe_fields(description)
        table(fields)
        print(f"dynamic fields: {description['enable_dynamic_field']}; "
              f"consistency: {description.get('consistency_level_name', '?')}; shards: {description.get('num_shards')}")

        heading("3. Insert, then stats")
        rows = book_rows(args.dim)
        result = insert_checked(client, BOOKS, rows)
        client.flush(BOOKS)
        stats = client.get_collection_stats(BOOKS)
        row_count = count_rows(client, BOOKS)
        print(f"inserted {result['insert_count']} rows; auto_id gave keys like {list(result['ids'])[:3]}")
        print(f"get_collection_stats → {stats}; count(*) → {row_count}")
        sample = client.query(BOOKS, filter='details["publisher"]["city"] == "Seoul" and ARRAY_CONTAINS(tags, "paperback")',
                              output_fields=["title", "year", "tags", "shelf"], limit=3)
        table([{k: row[k] for k in ("title", "year", "tags", "shelf")} for row in sample])
        print("↑ a JSON-path filter, an ARRAY filter, and the dynamic field 'shelf' read back like any other field")

        heading("4. Rename, then drop")
        client.rename_collection(BOOKS, RENAMED)
        renamed_ok = client.has_collection(RENAMED) and not client.has_collection(BOOKS)
        print(f"renamed {BOOKS!r} → {RENAMED!r}: {renamed_ok}; rows kept: {count_rows(client, RENAMED)}")
        client.drop_collection(RENAMED)
        dropped_ok = not client.has_collection(RENAMED)
        print(f"dropped {RENAMED!r}: {dropped_ok}")

        heading("5. A schema mistake and its message")
        broken = MilvusClient.create_schema(auto_id=True)
        broken.add_field("id", DataType.INT64, is_primary=True)
        broken.add_field("embedding", DataType.FLOAT_VECTOR)  # no dim
        mistake = ""
        with quiet_pymilvus():
            try:
                client.create_collection(PREFIX + "broken", schema=broken)
            except MilvusException as exc:
                mistake = exc.message
        print(f"FLOAT_VECTOR without dim → {mistake or 'accepted'}")
        print(f"fix: add_field('embedding', DataType.FLOAT_VECTOR, dim={args.dim}); the collection was not created: "
              f"{not client.has_collection(PREFIX + 'broken')}")

        heading("6. Other vector types on this engine")
        outcomes = {}
        with quiet_pymilvus():
            for capability, dtype, index_type, metric, make in OTHER_VECTOR_TYPES:
                outcomes[dtype.name] = try_vector_type(client, info, capability, dtype, index_type, metric, make)
        table([{"vector type": name, "result": text} for name, text in outcomes.items()])

    skipped = [f"{name}: {text}" for name, text in outcomes.items() if text.startswith("skipped")]
    failed = [name for name, text in outcomes.items() if text.startswith("FAILED")]
    return {
        "headline": f"{len(fields)} fields, {row_count} rows; {len(outcomes) - len(skipped)}/{len(outcomes)} extra vector types",
        "engine": info.kind,
        "fields": {f["field"]: f["type"] for f in fields},
        "rows": row_count,
        "filtered_rows": len(sample),
        "renamed": renamed_ok,
        "dropped": dropped_ok,
        "schema_error": mistake,
        "vector_types": outcomes,
        "vector_types_failed": failed,
        "skipped": skipped,
    }


if __name__ == "__main__":
    cli.run(main)
