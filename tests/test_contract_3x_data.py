"""Client-side contract tests for the 2.5-3.0 schema and data requests of lessons 1.5, 1.6, 4.7 and 4.8.

No engine here serves add_collection_field, alter_collection_field, partial updates, TEXT, struct arrays,
nullable vectors, entity TTL, the REST import jobs or snapshots. What the lessons *send* for them is
decided by pymilvus, so these tests run the lessons' own functions with a real ``MilvusClient`` against
``RecordingServer``: a unit-test stand-in for a Milvus 3.0 server (a mock, named as such) that speaks
gRPC on a local port, answers every MilvusService method with an empty success (a few with the little
a lesson reads back: the schema it was given, a row count, an empty hit list) and records each request
as pymilvus encoded it. The tests then read the protobuf messages: the field types and flags a schema
carries, the properties a collection is created with, the expression and database a call names.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from concurrent import futures

from common.config import REPO_ROOT
from common.errors import CourseError

import grpc
import pytest
from google.protobuf import message_factory
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]


def load(path: str):
    spec = importlib.util.spec_from_file_location("contract3x_" + path.replace("/", "_")[:-3], REPO_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingServer:
    """A unit-test mock of a Milvus 3.0 server: every request recorded as sent, minimal successful answers."""

    def __init__(self):
        self.calls: list[tuple[str, object, dict]] = []  # (method, request, metadata)
        self.schemas: dict[str, schema_pb2.CollectionSchema] = {}

    def requests(self, method: str) -> list:
        return [request for name, request, _ in self.calls if name == method]

    def answer(self, method, request, context):
        metadata = dict(context.invocation_metadata())
        self.calls.append((method.name, request, metadata))
        reply = message_factory.GetMessageClass(method.output_type)()
        if method.name == "GetVersion":
            reply.version = "v3.0.2"
        elif method.name == "CreateCollection":
            schema = schema_pb2.CollectionSchema()
            schema.ParseFromString(request.schema)
            self.schemas[request.collection_name] = schema
        elif method.name == "DescribeCollection" and request.collection_name in self.schemas:
            reply.schema.CopyFrom(self.schemas[request.collection_name])
            reply.collection_name = request.collection_name
        elif method.name == "DescribeCollection":
            reply.status.CopyFrom(common_pb2.Status(code=100, reason="collection not found"))
        elif method.name == "HasCollection":
            reply.value = request.collection_name in self.schemas
        elif method.name == "DropCollection":
            self.schemas.pop(request.collection_name, None)
        elif method.name == "Query" and "count(*)" in request.output_fields:
            field = reply.fields_data.add(field_name="count(*)", type=DataType.INT64)
            field.scalars.long_data.data.append(0)
        elif method.name == "Query":  # no rows: one empty primary-key column
            reply.fields_data.add(field_name="id", type=DataType.INT64).scalars.long_data.SetInParent()
        elif method.name == "Search":
            nq = 1 if request.nq == 0 else request.nq
            reply.results.num_queries, reply.results.top_k = nq, 0
            reply.results.topks.extend([0] * nq)
        elif method.name == "ManualCompaction":
            reply.compactionID = 7
        elif method.name == "DescribeIndex":  # create_collection(index_params=...) waits for the build
            reply.index_descriptions.add(
                index_name=request.index_name or request.field_name, state=common_pb2.IndexState.Finished
            )
        elif method.name == "RestoreSnapshot":
            reply.job_id = 11
        elif method.name == "GetFlushState":  # flush() polls until the segments are sealed
            reply.flushed = True
        elif method.name == "GetLoadState":
            reply.state = common_pb2.LoadState.LoadStateLoaded
        elif method.name == "GetLoadingProgress":
            reply.progress = 100
        return reply

    def handler(self):
        def unary(method):
            request_class = message_factory.GetMessageClass(method.input_type)
            return grpc.unary_unary_rpc_method_handler(
                lambda request, context: self.answer(method, request, context),
                request_deserializer=request_class.FromString,
                response_serializer=lambda reply: reply.SerializeToString(),
            )

        methods = {m.name: unary(m) for m in SERVICE.methods if not (m.client_streaming or m.server_streaming)}
        return grpc.method_handlers_generic_handler(SERVICE.full_name, methods)


@pytest.fixture
def server():
    recorder = RecordingServer()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    grpc_server.add_generic_rpc_handlers((recorder.handler(),))
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    recorder.uri = f"http://127.0.0.1:{port}"
    client = MilvusClient(uri=recorder.uri, timeout=5)
    recorder.client = client
    try:
        yield recorder
    finally:
        with contextlib.suppress(Exception):
            client.close()
        grpc_server.stop(grace=None)


def field(schema: schema_pb2.CollectionSchema, name: str) -> schema_pb2.FieldSchema:
    return next(f for f in schema.fields if f.name == name)


def properties(request) -> dict:
    return {kv.key: kv.value for kv in request.properties}


# --------------------------------------------------------------------------- 1.5 schema evolution


def test_nullable_and_default_fields_are_in_the_schema_sent(server):
    lesson = load("step01_basics/05_schema_evolution.py")
    lesson.create_products(server.client)
    schema = server.schemas[lesson.PRODUCTS]
    assert field(schema, "price").nullable and not field(schema, "price").HasField("default_value")
    stock = field(schema, "stock")
    assert stock.data_type == DataType.INT64 and not stock.nullable
    assert stock.default_value.HasField("long_data") and stock.default_value.long_data == 0
    label = field(schema, "label")
    assert label.nullable and label.default_value.string_data == "n/a"


def test_add_field_sends_a_nullable_field_schema(server):
    """pymilvus 3.0.2 sends AlterCollectionSchema (3.0), falling back to AddCollectionField (2.6) where it is absent."""
    lesson = load("step01_basics/05_schema_evolution.py")
    lesson.create_products(server.client)
    lesson.add_rating_field(server.client)
    (request,) = server.requests("AlterCollectionSchema")
    assert request.collection_name == lesson.PRODUCTS
    (added,) = [info.field_schema for info in request.action.add_request.field_infos]
    assert (added.name, added.data_type, added.nullable) == ("rating", DataType.INT64, True)


def test_alter_field_sends_the_new_max_length(server):
    lesson = load("step01_basics/05_schema_evolution.py")
    lesson.widen_name(server.client, 64)
    (request,) = server.requests("AlterCollectionField")
    assert request.field_name == "name" and properties(request) == {"max_length": "64"}


def test_timestamptz_and_geometry_requests(server):
    lesson = load("step01_basics/05_schema_evolution.py")
    lesson.create_events(server.client)
    assert field(server.schemas[lesson.EVENTS], "at").data_type == DataType.TIMESTAMPTZ
    lesson.events_in_window(server.client, *lesson.WINDOW)
    query = [q for q in server.requests("Query") if q.collection_name == lesson.EVENTS][-1]
    assert query.expr == "at >= ISO '2025-03-01T00:00:00Z' and at < ISO '2025-04-01T00:00:00Z'"
    lesson.create_places(server.client)
    assert field(server.schemas[lesson.PLACES], "location").data_type == DataType.GEOMETRY
    lesson.nearest_in_box(server.client, [0.1] * lesson.DIM, lesson.BOX, 5)
    (search,) = server.requests("Search")
    assert search.dsl == "ST_WITHIN(location, 'POLYGON ((2.0 2.0, 6.0 2.0, 6.0 5.0, 2.0 5.0, 2.0 2.0))')"


def test_text_struct_array_and_nullable_vector_schemas(server):
    lesson = load("step01_basics/05_schema_evolution.py")
    for capability, (schema, _) in lesson.new_type_requests().items():
        server.client.create_collection(collection_name=capability, schema=schema)
    assert field(server.schemas["text_type"], "body").data_type == DataType.TEXT
    struct = server.schemas["struct_array"]
    assert [s.name for s in struct.struct_array_fields] == ["chunks"]
    assert [f.name for f in struct.struct_array_fields[0].fields] == ["text", "page"]
    vector = field(server.schemas["nullable_vector"], "vector")
    assert vector.data_type == DataType.FLOAT_VECTOR and vector.nullable


# --------------------------------------------------------------------------- 1.6 upsert, delete, TTL


def test_merge_upsert_sends_partial_update_and_only_the_fields_given(server):
    lesson = load("step01_basics/06_upsert_and_delete.py")
    lesson.create_items(server.client)
    lesson.upsert_merge(server.client)
    (request,) = server.requests("Upsert")
    assert request.partial_update
    sent = {f.field_name: f for f in request.fields_data}
    assert sorted(sent) == ["$meta", "id", "views"]  # title and vector are not sent: the server keeps them
    assert [json.loads(v) for v in sent["$meta"].scalars.json_data.data] == [{}]  # no dynamic keys to change
    lesson.upsert_override(server.client, [0.1] * lesson.DIM)
    override = server.requests("Upsert")[-1]
    assert not override.partial_update
    assert {"id", "title", "views", "vector"} <= {f.field_name for f in override.fields_data}


def test_delete_by_expression_and_compaction(server):
    lesson = load("step01_basics/06_upsert_and_delete.py")
    lesson.create_items(server.client)
    result = lesson.delete_and_compact(server.client, 30)
    (delete,) = server.requests("Delete")
    assert delete.expr == "views < 30"
    (compaction,) = server.requests("ManualCompaction")
    assert result["job"] == 7 and compaction.collection_name == lesson.ITEMS


def test_collection_and_entity_ttl_properties(server):
    lesson = load("step01_basics/06_upsert_and_delete.py")
    lesson.create_expiring(server.client, 3)
    assert properties(server.requests("CreateCollection")[-1]) == {"collection.ttl.seconds": "3"}
    lesson.create_entity_ttl(server.client)
    create = server.requests("CreateCollection")[-1]
    assert properties(create) == {"ttl_field": "expire_at"}
    expire = field(server.schemas[lesson.EXPIRING], "expire_at")
    assert expire.data_type == DataType.TIMESTAMPTZ and expire.nullable


# --------------------------------------------------------------------------- 4.7 bulk import, 4.8 databases


def test_rest_import_request(monkeypatch):
    lesson = load("step04_advanced/07_bulk_import.py")
    sent = []

    class Reply:
        status_code = 200

        def json(self):
            return {"code": 0, "data": {"jobId": "449"}}

    def post(url, json=None, headers=None, **kwargs):
        sent.append((url, json, headers))
        return Reply()

    rest = sys.modules["pymilvus.bulk_writer.bulk_import"]  # the module: the package exports a function of that name
    monkeypatch.setattr(rest.requests, "post", post)
    job = lesson.import_over_rest("http://milvus:19530", [["course-bulk/x/1.parquet"], ["course-bulk/x/2.parquet"]])
    assert job == "449"
    ((url, body, _),) = sent
    assert url == "http://milvus:19530/v2/vectordb/jobs/import/create"
    assert body["collectionName"] == lesson.TARGET
    assert body["files"] == [["course-bulk/x/1.parquet"], ["course-bulk/x/2.parquet"]]
    json.dumps(body)  # what goes on the wire is plain JSON


def test_tenant_client_names_its_database_on_every_call(server):
    lesson = load("step04_advanced/08_databases_and_snapshots.py")
    tenant = lesson.open_tenant(server.uri, "", "s4_l8_acme")
    try:
        lesson.create_docs(tenant)
    finally:
        tenant.close()
    sent = [meta.get("dbname") for name, _, meta in server.calls if name in ("CreateCollection", "DescribeIndex")]
    assert sent and set(sent) == {"s4_l8_acme"}  # the database travels in each call's metadata


def test_database_level_grants(server):
    lesson = load("step04_advanced/08_databases_and_snapshots.py")
    lesson.grant_tenant_reader(server.client, "s4_l8_acme")
    grants = server.requests("OperatePrivilege") + server.requests("OperatePrivilegeV2")
    assert len(grants) == 3
    for request in grants:
        entity = request.entity
        assert entity.role.name == lesson.ROLE and entity.db_name == "s4_l8_acme"
        assert entity.object.name == "Collection" and entity.object_name == "*"
    assert sorted(r.entity.grantor.privilege.name for r in grants) == ["Load", "Query", "Search"]


def test_snapshot_and_restore_requests(server):
    lesson = load("step04_advanced/08_databases_and_snapshots.py")
    result = lesson.snapshot_and_restore(server.client, "s4_l8_source", "s4_l8_restored", timeout_s=1)
    (create,) = server.requests("CreateSnapshot")
    assert create.name == lesson.SNAPSHOT and create.collection_name == "s4_l8_source"
    (restore,) = server.requests("RestoreSnapshot")
    assert restore.name == lesson.SNAPSHOT
    assert (restore.collection_name, restore.target_collection_name) == ("s4_l8_source", "s4_l8_restored")
    assert server.requests("Flush") and server.requests("GetRestoreSnapshotState")
    assert "state" in result


def test_no_lesson_falls_back_to_a_default_minio_login(monkeypatch, tmp_path):
    """The lessons log in to MinIO with what .env holds, as the compose file does; the well-known default is
    nowhere in the code, and without a login the bulk-import lesson says what to set."""
    sources = [p for p in REPO_ROOT.glob("step0*/*.py")] + list((REPO_ROOT / "common").glob("*.py"))
    assert not [p.name for p in sources if "minioadmin" in p.read_text(encoding="utf-8")]
    lesson = load("step04_advanced/07_bulk_import.py")
    monkeypatch.setattr(lesson, "REPO_ROOT", tmp_path)  # no .env there
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(CourseError, match="MINIO_ROOT_USER and MINIO_ROOT_PASSWORD are not set"):
        lesson.minio_login()
    monkeypatch.setenv("MINIO_ROOT_USER", "course")
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", "a-long-secret")
    assert lesson.minio_login() == ("course", "a-long-secret")
