"""Step 1: a schema, batched inserts, top-k search."""

from tests.exercise_answers import Case

SCHEMA_HEAD = "from pymilvus import CollectionSchema, DataType, FieldSchema, MilvusClient\n"

CASES = [
    Case(
        "1.1",
        "title too short",
        SCHEMA_HEAD
        + """
def build_schema():
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=100)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=32)
    return schema
""",
        expect="field 'title': max_length 100, expected 200",
    ),
    Case(
        "1.1",
        "auto_id",
        SCHEMA_HEAD
        + """
def build_schema():
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=200)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=32)
    return schema
""",
        expect="auto_id is on",
    ),
    Case(
        "1.1",
        "wrong dim and an extra field",
        SCHEMA_HEAD
        + """
def build_schema():
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=200)
    schema.add_field(field_name="body", datatype=DataType.VARCHAR, max_length=200)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=64)
    return schema
""",
        expect="field 'embedding': dim 64, expected 32",
    ),
    Case(
        "1.1",
        "a dict, not a schema",
        SCHEMA_HEAD
        + """
def build_schema():
    return {"id": "INT64", "title": "VARCHAR(200)", "embedding": "FLOAT_VECTOR(32)"}
""",
        expect="returned a dict",
    ),
    Case(
        "1.1",
        "FieldSchema constructors",
        SCHEMA_HEAD
        + """
def build_schema():
    return CollectionSchema(
        fields=[
            FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
            FieldSchema("title", DataType.VARCHAR, max_length=200),
            FieldSchema("embedding", DataType.FLOAT_VECTOR, dim=32),
        ]
    )
""",
    ),
    Case(
        "1.2",
        "ids from 1",
        """
def insert_rows(client, collection, vectors, titles):
    for start in range(0, len(vectors), 500):
        rows = [{"id": i + 1, "title": titles[i], "embedding": vectors[i]}
                for i in range(start, min(start + 500, len(vectors)))]
        client.insert(collection_name=collection, data=rows)
    client.flush(collection_name=collection)
    return len(vectors)
""",
        expect="ids should be 0..",
    ),
    Case(
        "1.2",
        "titles on the wrong rows",
        """
def insert_rows(client, collection, vectors, titles):
    titles = sorted(titles)
    for start in range(0, len(vectors), 500):
        rows = [{"id": i, "title": titles[i], "embedding": vectors[i]}
                for i in range(start, min(start + 500, len(vectors)))]
        client.insert(collection_name=collection, data=rows)
    client.flush(collection_name=collection)
    return len(vectors)
""",
        expect="rows hold another row's title",
    ),
    Case(
        "1.2",
        "batches of 501",
        """
def insert_rows(client, collection, vectors, titles):
    total = 0
    for start in range(0, len(vectors), 501):
        rows = [{"id": i, "title": titles[i], "embedding": vectors[i]}
                for i in range(start, min(start + 501, len(vectors)))]
        total += client.insert(collection_name=collection, data=rows)["insert_count"]
    client.flush(collection_name=collection)
    return total
""",
        expect="an insert call carried 501 rows",
    ),
    Case(
        "1.2",
        "flush forgotten, nothing returned",
        """
def insert_rows(client, collection, vectors, titles):
    for start in range(0, len(vectors), 500):
        rows = [{"id": i, "title": titles[i], "embedding": vectors[i]}
                for i in range(start, min(start + 500, len(vectors)))]
        client.insert(collection_name=collection, data=rows)
""",
        expect="no flush after the last insert",
    ),
    Case(
        "1.2",
        "batches of 128 with zip",
        """
def insert_rows(client, collection, vectors, titles):
    rows = [{"id": i, "title": t, "embedding": v} for i, (v, t) in enumerate(zip(vectors, titles))]
    done = 0
    for start in range(0, len(rows), 128):
        done += client.insert(collection_name=collection, data=rows[start:start + 128])["insert_count"]
    client.flush(collection_name=collection)
    return done
""",
    ),
    Case(
        "1.3",
        "farthest first",
        """
def top_k(client, collection, query, k):
    hits = client.search(collection_name=collection, data=[query], anns_field="embedding", limit=k)[0]
    return [h["id"] for h in reversed(hits)]
""",
        expect="not nearest first",
    ),
    Case(
        "1.3",
        "2k ids",
        """
def top_k(client, collection, query, k):
    hits = client.search(collection_name=collection, data=[query], anns_field="embedding", limit=2 * k)[0]
    return [h["id"] for h in hits]
""",
        expect="expected exactly k=",
    ),
    Case(
        "1.3",
        "string ids",
        """
def top_k(client, collection, query, k):
    hits = client.search(collection_name=collection, data=[query], anns_field="embedding", limit=k)[0]
    return [str(h["id"]) for h in hits]
""",
        expect="ids must be int, got str",
    ),
    Case(
        "1.3",
        "L2 on a COSINE index",
        """
def top_k(client, collection, query, k):
    hits = client.search(collection_name=collection, data=[query], anns_field="embedding", limit=k,
                         search_params={"metric_type": "L2"})[0]
    return [h["id"] for h in hits]
""",
        expect="metric",
        server=True,
    ),
    Case(
        "1.3",
        "the index's own metric, positional arguments",
        """
def top_k(client, collection, query, k):
    result = client.search(collection, [query], limit=k, output_fields=[])
    return [int(hit.get("id")) for hit in result[0]]
""",
    ),
]

CASES += [
    Case(
        "1.2",
        "one call, no flush",
        """
def insert_rows(client, collection, vectors, titles):
    rows = [{"id": i, "title": t, "embedding": v} for i, (v, t) in enumerate(zip(vectors, titles))]
    return client.insert(collection_name=collection, data=rows)["insert_count"]
""",
        expect="rows (at most 500)",
    ),
]
