"""Client-side contract tests for the 2.5-3.0 search and index requests of lessons 2.5-2.9: no server needed.

No engine here runs phrase match, filter templates, ORDER BY, grouped counts, run_analyzer, the lindera
analyzer, IVF_RABITQ, HNSW_PQ/PRQ, DISKANN, BITMAP, NGRAM or a JSON path index. What a lesson *sends* for
them is decided on the client, though: ``RecordingClient`` (a unit-test mock, named as such) takes the
lessons' own calls and encodes each with pymilvus' own request builders (``pymilvus.client.prepare.Prepare``),
exactly as MilvusClient would before the wire. The tests then read the protobuf a Milvus 3.0 server would
receive. Each feature also has a test that the lesson describes a 3.0.2 server as having it.
"""

from __future__ import annotations

import importlib.util
import json

from common.config import REPO_ROOT
from common.engine import describe

import numpy as np
import pytest
from pymilvus.client.prepare import Prepare
from pymilvus.grpc_gen import common_pb2, schema_pb2

SERVER_3_0 = describe("server", "v3.0.2")
SERVER_2_5 = describe("server", "v2.5.0")
LITE = describe("lite", "3.2.2")


def load(path: str):
    spec = importlib.util.spec_from_file_location("contract3x_" + path.replace("/", "_")[:-3], REPO_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingClient:
    """A unit-test mock: records each call's request as pymilvus encodes it; answers with empty results."""

    def __init__(self, query_rows=None):
        self.requests: list = []
        self.query_rows = query_rows or []

    def has_collection(self, collection_name, **kwargs):
        return False

    def drop_collection(self, collection_name, **kwargs):
        pass

    def create_collection(self, collection_name, schema=None, index_params=None, **kwargs):
        self.requests.append(Prepare.create_collection_request(collection_name, schema))
        for index in index_params or []:
            self.create_index(collection_name, [index])

    def create_index(self, collection_name, index_params, **kwargs):
        for index in index_params:
            self.requests.append(
                Prepare.create_index_request(
                    collection_name, index.field_name, index.get_index_configs(), index_name=index.index_name
                )
            )

    def search(self, collection_name, data, limit=10, anns_field="", search_params=None, filter="", **kwargs):
        self.requests.append(
            Prepare.search_requests_with_expr(
                collection_name=collection_name,
                anns_field=anns_field,
                param=search_params or {},
                limit=limit,
                data=data,
                expr=filter,
                output_fields=kwargs.get("output_fields"),
                ranker=kwargs.get("ranker"),
                function_chains=kwargs.get("function_chains"),
                expr_params=kwargs.get("filter_params", {}),
                highlighter=kwargs.get("highlighter"),
                **{k: v for k, v in kwargs.items() if k in ("order_by_fields",)},
            )
        )
        return [[] for _ in data]

    def hybrid_search(self, collection_name, reqs, ranker, limit=10, output_fields=None, **kwargs):
        """As pymilvus' grpc handler builds it: one search request per AnnSearchRequest, then the fused request."""
        searches = [
            Prepare.search_requests_with_expr(
                collection_name=collection_name,
                data=req.data,
                anns_field=req.anns_field,
                param=req.param,
                limit=req.limit,
                expr=req.expr,
                expr_params=req.expr_params,
            )
            for req in reqs
        ]
        self.requests.append(
            Prepare.hybrid_search_request_with_ranker(collection_name, searches, ranker, limit, None, output_fields)
        )
        return [[] for _ in reqs[0].data]

    def query(self, collection_name, filter="", output_fields=None, **kwargs):
        extra = {k: v for k, v in kwargs.items() if k != "filter_params"}
        self.requests.append(
            Prepare.query_request(
                collection_name, filter, output_fields or [], [], expr_params=kwargs.get("filter_params", {}), **extra
            )
        )
        return self.query_rows

    def run_analyzer(self, texts, analyzer_params=None, **kwargs):
        self.requests.append(Prepare.run_analyzer(texts, analyzer_params=analyzer_params))
        return []


def kv(pairs) -> dict:
    return {pair.key: pair.value for pair in pairs}


# --------------------------------------------------------------------------- capabilities by version


@pytest.mark.parametrize(
    ("capability", "since"),
    [
        ("text_match", (2, 5, 0)),
        ("filter_templating", (2, 5, 0)),
        ("run_analyzer", (2, 5, 0)),
        ("multi_analyzer", (2, 5, 11)),
        ("json_index", (2, 5, 7)),
        ("phrase_match", (2, 6, 0)),
        ("decay_ranker", (2, 6, 0)),
        ("korean_analyzer", (2, 6, 0)),
        ("boost_ranker", (2, 6, 2)),
        ("ngram_index", (2, 6, 2)),
        ("highlighter", (2, 6, 8)),
        ("function_chain", (3, 0, 0)),
        ("order_by", (3, 0, 0)),
        ("query_aggregation", (3, 0, 0)),
        (
            "weighted_rrf",
            (3, 0, 1),
        ),  # release notes 3.0.1: "weighted RRF reranking with optional per-ANN-request weights"
    ],
)
def test_each_feature_arrives_with_the_release_that_introduced_it(capability, since):
    previous = {(3, 0, 0): (2, 6, 99)}  # the last release before each first-release
    before = previous.get(since) or ((since[0], since[1], since[2] - 1) if since[2] else (since[0], since[1] - 1, 99))
    assert describe("server", ".".join(map(str, since))).has(capability)
    assert not describe("server", ".".join(map(str, before))).has(capability)
    assert SERVER_3_0.has(capability)


def test_lite_has_what_it_was_shown_to_do_and_nothing_it_refused():
    assert {"text_match", "decay_ranker", "boost_ranker", "function_chain", "bm25"} <= LITE.capabilities
    refused_on_lite = {"phrase_match", "filter_templating", "run_analyzer", "order_by", "query_aggregation"}
    assert not refused_on_lite & LITE.capabilities
    assert not {"IVF_RABITQ", "HNSW_PQ", "HNSW_PRQ", "DISKANN"} & set(LITE.vector_indexes)
    assert {"IVF_RABITQ", "HNSW_PQ", "HNSW_PRQ"} <= set(SERVER_3_0.vector_indexes)


# --------------------------------------------------------------------------- lesson 2.5


def test_text_and_phrase_match_travel_as_filter_expressions():
    lesson = load("step02_core_features/05_text_match.py")
    client = RecordingClient()
    lesson.create_notes(client, 8)
    schema = schema_pb2.CollectionSchema()
    schema.ParseFromString(client.requests[0].schema)
    text = next(f for f in schema.fields if f.name == "text")
    params = kv(text.type_params)
    assert params["enable_analyzer"] == "true" and params["enable_match"] == "true"
    assert [f.type for f in schema.functions] == [schema_pb2.FunctionType.BM25]
    lesson.matching_ids(client, "shard replica")
    lesson.phrase_ids(client, "vector index", 2)
    assert client.requests[-2].expr == "TEXT_MATCH(text, 'shard replica')"
    assert client.requests[-1].expr == "PHRASE_MATCH(text, 'vector index', 2)"
    lesson.vector_search_with_terms(client, [0.1] * 8, "disk")
    assert client.requests[-1].dsl == "TEXT_MATCH(text, 'disk')"


def test_highlighter_travels_with_the_bm25_search():
    lesson = load("step02_core_features/05_text_match.py")
    client = RecordingClient()
    assert lesson.highlighted(client, "latency memory") == []
    request = client.requests[-1]
    assert request.HasField("highlighter") and request.highlighter.type == common_pb2.HighlightType.Lexical
    params = kv(request.highlighter.params)
    assert json.loads(params["pre_tags"]) == ["{"] and json.loads(params["post_tags"]) == ["}"]
    assert params["highlight_search_text"] == "True" and params["num_of_fragments"] == "1"
    assert list(request.output_fields) == ["text"] and kv(request.search_params)["metric_type"] == "BM25"
    assert SERVER_3_0.has("highlighter") and not LITE.has("highlighter")


def test_python_highlight_model():
    lesson = load("step02_core_features/05_text_match.py")
    assert lesson.python_highlight("disk Shard replica shard", "shard") == "{Shard} replica {shard}"
    assert lesson.python_highlight("disk memory", "latency memory") == "{memory}"
    assert lesson.python_highlight("disk", "shard") is None


def test_run_analyzer_request_carries_the_analyzer():
    client = RecordingClient()
    client.run_analyzer("Milvus 2.6", analyzer_params={"tokenizer": "standard"})
    request = client.requests[-1]
    assert list(request.placeholder) == [b"Milvus 2.6"]
    assert json.loads(request.analyzer_params) == {"tokenizer": "standard"}


# --------------------------------------------------------------------------- lesson 2.6


def test_korean_analyzer_is_sent_in_the_field_type_params():
    lesson = load("step02_core_features/06_korean_text.py")
    client = RecordingClient()
    lesson.create_analyzed(client, lesson.KOREAN_ANALYZER)
    schema = schema_pb2.CollectionSchema()
    schema.ParseFromString(client.requests[0].schema)
    text = next(f for f in schema.fields if f.name == "text")
    assert json.loads(kv(text.type_params)["analyzer_params"]) == {
        "tokenizer": {"type": "lindera", "dict_kind": "ko-dic"}
    }


def test_multi_language_analyzer_is_sent_in_the_field_type_params():
    lesson = load("step02_core_features/06_korean_text.py")
    client = RecordingClient()
    lesson.create_mixed(client)
    schema = schema_pb2.CollectionSchema()
    schema.ParseFromString(client.requests[0].schema)
    fields = {f.name: f for f in schema.fields}
    params = kv(fields["text"].type_params)
    assert params["enable_analyzer"] == "true" and "analyzer_params" not in params
    sent = json.loads(params["multi_analyzer_params"])
    assert sent["by_field"] == "language" and fields["language"].data_type == schema_pb2.DataType.VarChar
    assert sent["analyzers"]["korean"] == {"tokenizer": {"type": "lindera", "dict_kind": "ko-dic"}}
    assert sent["analyzers"]["english"] == {"type": "english"} and "default" in sent["analyzers"]
    assert set(sent["alias"].values()) <= set(sent["analyzers"])  # every alias names an analyzer
    assert [f.type for f in schema.functions] == [schema_pb2.FunctionType.BM25]
    lesson.mixed_search(client, ["컬렉션을 만들려면"], "korean")
    search = kv(client.requests[-1].search_params)
    assert search["metric_type"] == "BM25" and json.loads(search["params"])["analyzer_name"] == "korean"
    assert SERVER_3_0.has("multi_analyzer") and SERVER_3_0.has("korean_analyzer")
    assert not describe("server", "2.5.11").has("korean_analyzer")  # multi-language from 2.5.11, lindera from 2.6


def test_kiwi_sparse_vectors_are_bm25_weights_and_the_query_is_its_terms():
    lesson = load("step02_core_features/06_korean_text.py")
    docs = [["벡터", "검색"], ["벡터", "인덱스", "인덱스"], ["한국어"]]
    vectors, vocab, query_vector = lesson.bm25_sparse(docs)
    assert set(vectors[1]) == {vocab["벡터"], vocab["인덱스"]}
    assert vectors[2][vocab["한국어"]] > vectors[0][vocab["벡터"]]  # a rarer term weighs more
    assert query_vector(["인덱스", "없는말"]) == {vocab["인덱스"]: 1.0}
    client = RecordingClient()
    lesson.create_ko_docs(client, 4)
    client.search(collection_name=lesson.KO_DOCS, data=[query_vector(["벡터"])], anns_field="morphemes", limit=3)
    assert client.requests[-1].nq == 1


# --------------------------------------------------------------------------- lesson 2.7


def test_decay_and_boost_rankers_are_function_scores():
    lesson = load("step02_core_features/07_rerankers.py")
    client = RecordingClient()
    lesson.reranked(client, [0.1] * 8, ranker=lesson.decay_ranker())
    decay = client.requests[-1].function_score.functions[0]
    params = kv(decay.params)
    assert list(decay.input_field_names) == ["age_days"]
    assert params["reranker"] == "decay" and params["function"] == "gauss" and float(params["scale"]) == 30
    lesson.reranked(client, [0.1] * 8, ranker=lesson.boost_ranker())
    boost = kv(client.requests[-1].function_score.functions[0].params)
    assert boost["reranker"] == "boost" and boost["filter"] == "pick == true" and float(boost["weight"]) == 1.5


def test_function_chain_is_sent_as_its_steps():
    lesson = load("step02_core_features/07_rerankers.py")
    client = RecordingClient()
    lesson.reranked(client, [0.1] * 8, fetch=100, function_chains=lesson.freshness_chain())
    request = client.requests[-1]
    (chain,) = request.function_chains
    assert chain.name == "fresh_first" and len(chain.ops) == 4  # map, map, sort, limit
    assert kv(request.search_params)["topk"] == "100"


def test_weighted_rrf_is_an_rrf_function_score_with_weights():
    lesson = load("step02_core_features/07_rerankers.py")
    client = RecordingClient()
    assert lesson.fused(client, [0.1] * 8, lesson.weighted_rrf(lesson.WEIGHTS)) == []
    request = client.requests[-1]
    (sent,) = request.function_score.functions
    params = kv(sent.params)
    assert sent.type == schema_pb2.FunctionType.Rerank and list(sent.input_field_names) == []
    assert params["reranker"] == "rrf" and float(params["k"]) == 60 and json.loads(params["weights"]) == [0.7, 0.3]
    # the weights follow the order of the sub-requests: embedding first
    assert [kv(r.search_params)["anns_field"] for r in request.requests] == ["embedding", "summary_vec"]
    assert SERVER_3_0.has("weighted_rrf") and not describe("server", "3.0.0").has("weighted_rrf")
    assert not LITE.has("weighted_rrf")


def test_numpy_rrf_is_the_sum_of_weight_over_k_plus_rank():
    lesson = load("step02_core_features/07_rerankers.py")
    a, b = np.arange(20, dtype=float), np.arange(20, dtype=float)[::-1].copy()  # best: 19 in a, 0 in b
    scores = lesson.numpy_rrf([a, b], [0.7, 0.3])
    assert scores[19] == pytest.approx(0.7 / 61) and scores[0] == pytest.approx(0.3 / 61)
    assert set(scores) == set(range(10, 20)) | set(range(10))  # each view's top 10 only
    same, gap = lesson.rrf_agrees([(19, 0.7 / 61), (18, 0.7 / 62)] + [(i, 0.0) for i in range(8)], scores)
    assert not same and gap > 0


def test_the_lesson_decay_formula_matches_the_documented_one():
    lesson = load("step02_core_features/07_rerankers.py")
    factor = lesson.gauss_factor(np.array([0, 30, 60]))
    assert factor[0] == 1.0 and abs(factor[1] - 0.5) < 1e-12 and abs(factor[2] - 0.5**4) < 1e-12


# --------------------------------------------------------------------------- lesson 2.8


def test_filter_template_values_travel_beside_the_expression():
    lesson = load("step02_core_features/08_iterators_and_order_by.py")
    client = RecordingClient(query_rows=[{"count(*)": 0}])
    lesson.templated_count(client, [3, 5, 8])
    request = client.requests[-1]
    assert request.expr == "age in {ages} and kind == {kind}"
    values = request.expr_template_values
    assert list(values["ages"].array_val.long_data.data) == [3, 5, 8]
    assert values["kind"].string_val == "click"


def test_order_by_and_group_by_reach_the_request():
    lesson = load("step02_core_features/08_iterators_and_order_by.py")
    client = RecordingClient()
    lesson.ordered_search(client, [0.1] * 4)
    assert kv(client.requests[-1].search_params)["order_by_fields"] == "age:asc"
    lesson.counts_by_kind(client)
    request = client.requests[-1]
    assert list(request.output_fields) == ["kind", "count(*)"]
    assert kv(request.query_params).get("group_by_fields") == "kind"


def test_offset_travels_in_the_search_params():
    lesson = load("step02_core_features/08_iterators_and_order_by.py")
    client = RecordingClient()
    lesson.page(client, [0.1] * 4, 20, 10)
    params = kv(client.requests[-1].search_params)
    assert params["offset"] == "20" and params["topk"] == "10"


# --------------------------------------------------------------------------- lesson 2.9


@pytest.mark.parametrize("index_type", ["IVF_RABITQ", "HNSW_PQ", "HNSW_PRQ", "DISKANN"])
def test_compact_index_build_params_reach_the_request(index_type):
    lesson = load("step02_core_features/09_compact_indexes.py")
    params = lesson.build_params_for(index_type, 10000, 64)
    from pymilvus import MilvusClient

    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type=index_type, metric_type="COSINE", params=params)
    client = RecordingClient()
    client.create_index("c", index_params)
    sent = kv(client.requests[-1].extra_params)
    assert sent["index_type"] == index_type and sent["metric_type"] == "COSINE"
    for key, value in params.items():
        assert sent[key] == str(value), (key, sent)  # pymilvus sends str(value) for scalars
    if index_type != "DISKANN":
        assert params["refine"] is True and params["refine_type"] == "SQ8"


@pytest.mark.parametrize("name", ["BITMAP", "NGRAM", "JSON path"])
def test_scalar_index_requests(name):
    lesson = load("step02_core_features/09_compact_indexes.py")
    field, index_type, params, capability = lesson.SCALAR[name]
    assert SERVER_3_0.has(capability) or index_type in SERVER_3_0.scalar_indexes
    from pymilvus import MilvusClient

    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name=field, index_type=index_type, index_name=f"{field}_idx", params=params)
    client = RecordingClient()
    client.create_index("c", index_params)
    sent = kv(client.requests[-1].extra_params)
    assert sent["index_type"] == index_type and client.requests[-1].field_name == field
    for key, value in params.items():
        assert sent[key] == str(value)


def test_memory_arithmetic_orders_the_compact_indexes():
    lesson = load("step02_core_features/09_compact_indexes.py")
    rows = {t: lesson.memory_row(t, 100_000, 768) for t in lesson.COMPACT if t != "AUTOINDEX"}
    per = {t: r["bytes/vector"] for t, r in rows.items()}
    assert per["HNSW"] > per["HNSW_PQ"] > per["IVF_SQ8"] > per["IVF_RABITQ"] - 768  # RaBitQ codes without refine
    assert per["IVF_RABITQ"] - 768 == 768 / 8 + 16  # 1 bit per dim + corrections + id
    assert per["DISKANN"] == 0.125 * 4 * 768 + 8
