"""Client-side contract tests for the Milvus 3.0 route: no server needed.

Learners with Docker run these lessons against Milvus 3.0.x, which no machine here can start. What a
lesson *sends*, though, is decided on the client: pymilvus encodes every row and every search request
against the collection's schema before anything goes on the wire, and refuses what does not fit
(a float32 array for a BFLOAT16 field, say). These tests run the lessons' own functions against
``SchemaCheckingClient`` — a unit-test stand-in for a 3.0 server (a mock, named as such) that keeps
each collection's schema, passes every insert, upsert, search and hybrid search through pymilvus'
own request builders (``pymilvus.client.prepare.Prepare``), and answers searches by exact match so
the lessons' checks still have something to check. Lessons see an engine described as Milvus 3.0.2,
so they take their 3.0 branches.
"""

import importlib.util
import json

from common.config import REPO_ROOT
from common.data import clustered_vectors, make_dataset
from common.engine import describe

import numpy as np
import pytest
from pymilvus import DataType, RRFRanker, WeightedRanker
from pymilvus.client.prepare import Prepare
from pymilvus.grpc_gen import common_pb2

SERVER_3_0 = describe("server", "v3.0.2")
PLACEHOLDER = {  # what a search on each vector type must send
    DataType.FLOAT_VECTOR: common_pb2.PlaceholderType.FloatVector,
    DataType.FLOAT16_VECTOR: common_pb2.PlaceholderType.Float16Vector,
    DataType.BFLOAT16_VECTOR: common_pb2.PlaceholderType.BFloat16Vector,
    DataType.BINARY_VECTOR: common_pb2.PlaceholderType.BinaryVector,
    DataType.SPARSE_FLOAT_VECTOR: common_pb2.PlaceholderType.SparseFloatVector,
    DataType.VARCHAR: common_pb2.PlaceholderType.VarChar,  # BM25: the query is text
}


def load(path: str):
    spec = importlib.util.spec_from_file_location("contract_" + path.replace("/", "_")[:-3], REPO_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ContractViolation(AssertionError):
    """A request a Milvus 3.0 server would refuse (e.g. a FloatVector query for a BFLOAT16 field)."""


def check_placeholder(request, field: dict, data) -> None:
    expected = DataType.VARCHAR if isinstance(data[0], str) else field["type"]
    sent = placeholder_type(request)
    if sent != PLACEHOLDER[expected]:
        raise ContractViolation(
            f"search on {field['name']} ({field['type'].name}) sends a "
            f"{common_pb2.PlaceholderType.Name(sent)} query; the server expects "
            f"{common_pb2.PlaceholderType.Name(PLACEHOLDER[expected])}"
        )


def placeholder_type(request) -> int:
    group = common_pb2.PlaceholderGroup()
    group.ParseFromString(request.placeholder_group)
    return group.placeholders[0].type


class SchemaCheckingClient:
    """A unit-test mock of a Milvus 3.0 server: real pymilvus request encoding, exact-match answers."""

    def __init__(self):
        self.schemas: dict[str, dict] = {}
        self.rows: dict[str, dict] = {}
        self.indexes: dict[tuple[str, str], dict] = {}
        self.requests: list = []  # every encoded request, for the tests to inspect

    # collections
    def create_collection(self, collection_name, schema=None, index_params=None, **kwargs):
        self.schemas[collection_name] = {"collection_name": collection_name, **schema.to_dict()}
        self.rows[collection_name] = {}
        if index_params is not None:
            self.create_index(collection_name, index_params)

    def has_collection(self, collection_name, **kwargs):
        return collection_name in self.schemas

    def drop_collection(self, collection_name, **kwargs):
        self.schemas.pop(collection_name, None)
        self.rows.pop(collection_name, None)

    def describe_collection(self, collection_name, **kwargs):
        return self.schemas[collection_name]

    def flush(self, collection_name, **kwargs):
        pass

    load_collection = release_collection = create_partition = load_partitions = flush

    # indexes: kept as a server reports them, each build parameter its own key with a string value
    def create_index(self, collection_name, index_params, **kwargs):
        for index in index_params:
            name = index.index_name or index.field_name
            configs = {key: str(value) for key, value in index.get_index_configs().items()}
            self.indexes[collection_name, name] = {"field_name": index.field_name, "index_name": name, **configs}

    def describe_index(self, collection_name, index_name="", **kwargs):
        return dict(self.indexes[collection_name, index_name])

    def field(self, collection: str, name: str | None = None) -> dict:
        vectors = [f for f in self.schemas[collection]["fields"] if "VECTOR" in f["type"].name]
        return next(f for f in vectors if name in (None, f["name"]))

    # writes: encoded by pymilvus exactly as MilvusClient.insert / upsert would
    def _write(self, build, collection_name, data, partition_name=""):
        schema = self.schemas[collection_name]
        self.requests.append(
            build(
                collection_name,
                data,
                partition_name,
                schema["fields"],
                enable_dynamic=schema.get("enable_dynamic_field", False),
            )
        )
        primary = next(f for f in schema["fields"] if f.get("is_primary"))
        start = len(self.rows[collection_name])
        ids = []
        for offset, row in enumerate(data):
            key = start + offset if primary.get("auto_id") else row[primary["name"]]
            self.rows[collection_name][key] = row
            ids.append(key)
        return {"insert_count": len(data), "upsert_count": len(data), "ids": ids}

    def insert(self, collection_name, data, partition_name="", **kwargs):
        return self._write(Prepare.row_insert_param, collection_name, data, partition_name)

    def upsert(self, collection_name, data, partition_name="", **kwargs):
        return self._write(Prepare.row_upsert_param, collection_name, data, partition_name)

    # reads
    def search(
        self,
        collection_name,
        data,
        limit=10,
        anns_field=None,
        search_params=None,
        filter="",
        output_fields=None,
        **kwargs,
    ):
        field = self.field(collection_name, anns_field)
        # as pymilvus' GrpcHandler.search does: for raw-bytes queries it fetches the schema to learn the vector type
        schema = self.schemas[collection_name] if isinstance(data[0], bytes) else None
        request = Prepare.search_requests_with_expr(
            collection_name=collection_name,
            anns_field=field["name"],
            param=search_params or {},
            limit=limit,
            data=data,
            expr=filter,
            output_fields=output_fields,
            schema=schema,
        )
        check_placeholder(request, field, data)
        self.requests.append(request)
        return [self._exact(collection_name, field["name"], query, limit) for query in data]

    def _exact(self, collection, field, query, limit) -> list[dict]:
        """Rows whose vector equals the query first (distance 0), then the rest: enough for the lessons' checks."""
        rows = self.rows[collection]
        same = [key for key, row in rows.items() if field in row and _same(row[field], query)]
        order = same + [key for key in rows if key not in same]
        return [
            {"id": key, "distance": 0.0 if key in same else 1.0, "entity": dict(rows[key])} for key in order[:limit]
        ]

    def hybrid_search(self, collection_name, reqs, ranker, limit=10, output_fields=None, **kwargs):
        encoded = []
        for req in reqs:
            field = self.field(collection_name, req.anns_field)
            search = Prepare.search_requests_with_expr(
                collection_name=collection_name,
                data=req.data,
                anns_field=req.anns_field,
                param=req.param,
                limit=req.limit,
                expr=req.expr,
            )
            check_placeholder(search, field, req.data)
            encoded.append(search)
        self.requests.append(
            Prepare.hybrid_search_request_with_ranker(collection_name, encoded, ranker, limit, None, output_fields)
        )
        return [self._exact(collection_name, reqs[0].anns_field, reqs[0].data[0], limit)]

    def query(self, collection_name, filter="", output_fields=None, limit=None, **kwargs):
        if output_fields == ["count(*)"]:
            return [{"count(*)": len(self.rows[collection_name])}]
        return []

    def get(self, collection_name, ids, output_fields=None, **kwargs):
        rows = self.rows[collection_name]
        return [dict(rows[i], id=i) for i in ids if i in rows]

    def delete(self, collection_name, ids=None, filter="", **kwargs):
        for key in ids or []:
            self.rows[collection_name].pop(key, None)
        return {"delete_count": len(ids or [])}


def _same(stored, query) -> bool:
    if isinstance(stored, (bytes, str)) or isinstance(query, (bytes, str)):
        return stored == query
    if isinstance(stored, dict):
        return stored == query
    return np.array_equal(np.asarray(stored, dtype=np.float64), np.asarray(query, dtype=np.float64))


@pytest.fixture
def server():
    return SchemaCheckingClient()


# --------------------------------------------------------------------------- lesson 1.3: every vector type


@pytest.mark.parametrize("case", range(4), ids=["FLOAT16", "BFLOAT16", "BINARY", "SPARSE"])
def test_every_vector_type_is_encoded_as_a_3_0_server_expects(server, case):
    lesson = load("step01_basics/03_schema_and_collections.py")
    capability, dtype, index_type, metric, make = lesson.OTHER_VECTOR_TYPES[case]
    assert SERVER_3_0.has(capability)  # the 3.0 branch is taken, not skipped
    outcome = lesson.try_vector_type(server, SERVER_3_0, capability, dtype, index_type, metric, make)
    assert outcome.startswith("ok:") and "rank 1" in outcome, outcome


def test_float32_arrays_for_bfloat16_break_the_contract(server):
    """The encoding lesson 1.3 once used (float32 arrays for a BFLOAT16 field): pymilvus packs the rows,
    but the query goes out as a FloatVector, which a 3.0 server refuses for a BFLOAT16 field."""
    lesson = load("step01_basics/03_schema_and_collections.py")
    capability, dtype, index_type, metric, _ = lesson.OTHER_VECTOR_TYPES[1]
    assert dtype == DataType.BFLOAT16_VECTOR
    with pytest.raises(ContractViolation, match="sends a FloatVector query; the server expects BFloat16Vector"):
        lesson.try_vector_type(
            server, SERVER_3_0, capability, dtype, index_type, metric, lambda v: v.astype(np.float32)
        )


def test_bfloat16_bytes_keep_the_top_16_bits_rounded():
    lesson = load("step01_basics/03_schema_and_collections.py")
    values = np.array([1.0, -2.5, 3.14159, 1e-3], dtype=np.float32)
    decoded = (np.frombuffer(lesson.to_bfloat16_bytes(values), dtype=np.uint16).astype(np.uint32) << 16).view(
        np.float32
    )
    assert np.allclose(decoded, values, rtol=2**-8)  # bfloat16 keeps 8 bits of mantissa


# --------------------------------------------------------------------------- the other lessons' payloads


def test_step1_rows_queries_and_searches(server):
    books = load("step01_basics/03_schema_and_collections.py")
    books.create_books(server, SERVER_3_0, 384)
    books.insert_books(server, books.book_rows(384))  # JSON, ARRAY, dynamic "shelf"
    articles = load("step01_basics/04_insert_and_search.py")
    data = make_dataset(200, 16, 2, seed=1)
    rows = articles.article_rows(data.base)
    articles.create_articles(server, 16)
    articles.insert_articles(server, rows, 50)
    assert articles.index_and_load(server, SERVER_3_0) == {"M": 16, "efConstruction": 128}  # sent as keys
    assert articles.search_example(server, data.base[5].tolist())[0]["id"] == 5
    result = articles.query_get_upsert_delete(server, rows, data.queries[1].tolist())
    assert result["after_upsert"]["text"] == "article 42, rewritten" and result["after_upsert"]["top"] == 42


def test_step2_filters_hybrid_and_bm25_requests(server):
    lesson = load("step02_core_features/04_filtered_and_hybrid.py")
    rng = np.random.default_rng(0)
    data = make_dataset(300, 16, 5, seed=2)
    lesson.load_products(server, SERVER_3_0, data, lesson.make_products(300, rng), 300)
    assert len(lesson.filtered_search(server, data.queries[:2].tolist(), 'ARRAY_CONTAINS(tags, "eco")', 64)) == 2
    lesson.create_two_vectors(server, data.base, data.base[::-1].copy())
    for ranker in (RRFRanker(60), WeightedRanker(0.7, 0.3)):
        assert lesson.hybrid_top(server, data.base[3].tolist(), ranker)[0] == 3
    lesson.create_articles(server, 16)  # BM25: rows carry text only; Milvus fills the sparse field
    server.insert(
        collection_name=lesson.ARTICLES,
        data=[{"id": i, "text": "oven yeast crust", "embedding": v.tolist()} for i, v in enumerate(data.base[:20])],
    )
    assert lesson.keyword_search(server, "oven yeast") is not None


def test_step4_event_and_catalog_rows(server):
    streaming = load("step04_advanced/04_streaming_ingest.py")
    streaming.ensure_collection(server, SERVER_3_0, "events")

    class Message:  # what confluent-kafka hands the consumer: .value() is the JSON the producer wrote
        def __init__(self, i):
            vector, _ = clustered_vectors(1, streaming.DIM, seed=i, normalized=False)
            event = {"id": i, "version": 1, "user": "u1", "produced_at": 1.0, "embedding": vector[0].tolist()}
            self._value = json.dumps(event).encode()

        def value(self):
            return self._value

    server.upsert(collection_name="events", data=streaming.to_rows([json.loads(Message(i).value()) for i in range(5)]))
    backup = load("step04_advanced/05_backup_restore.py")
    backup.create_catalog(server, SERVER_3_0, make_dataset(50, 16, 2, seed=3), np.random.default_rng(3))
    assert len(server.rows[backup.COLLECTION]) == 50
