"""Unit tests of common.indexes: the build-params shim, what describe_index reports, index arithmetic."""

import json

from common.engine import describe
from common.errors import BadInput
from common.indexes import (
    INDEX_TYPES,
    applied_build_params,
    build_params,
    check_index,
    engine_build_params,
    memory,
    pq_m,
    reported_build_params,
    search_knob,
    unapplied_build_params,
)

import pytest

LITE = describe("lite", "milvus_lite 3.2.2")
SERVER = describe("server", "v2.3.5")


def test_engine_build_params_sends_json_only_where_separate_keys_are_dropped():
    asked = {"nlist": 512}
    assert engine_build_params(SERVER, asked) == asked
    shimmed = engine_build_params(LITE, asked)
    assert list(shimmed) == ["params"]  # no separate nlist key beside it
    assert json.loads(shimmed["params"]) == asked
    assert engine_build_params(LITE, {}) == {}  # FLAT: nothing to send


def test_reported_build_params_reads_server_keys_and_lite_json():
    server = {"index_type": "HNSW", "metric_type": "L2", "M": "16", "efConstruction": "128", "state": "Finished"}
    assert reported_build_params(server) == {"M": 16, "efConstruction": 128}
    lite = {"index_type": "HNSW_SQ", "params": {"M": 8, "efConstruction": 64, "sq_type": "SQ8"}, "total_rows": 9}
    assert reported_build_params(lite) == {"M": 8, "efConstruction": 64, "sq_type": "SQ8"}
    as_string = {"index_type": "IVF_FLAT", "params": json.dumps({"nlist": "512"})}
    assert reported_build_params(as_string) == {"nlist": 512}
    assert reported_build_params({"index_type": "IVF_FLAT", "indexed_rows": 5}) == {}


def test_applied_build_params_compares_values_not_only_keys():
    asked = {"nlist": 512}
    assert applied_build_params({"nlist": "512"}, asked)
    assert not applied_build_params({"nlist": "128"}, asked)
    assert not applied_build_params({"index_type": "IVF_FLAT"}, asked)
    assert unapplied_build_params({"params": {"nlist": 128}}, asked) == {"nlist": (512, 128)}


@pytest.mark.parametrize("kind, raw", [("lite", "milvus_lite 3.2.2"), ("server", "v2.3.5"), ("server", "v2.6.4")])
def test_every_engine_has_a_build_params_fact(kind, raw):
    assert describe(kind, raw).behaviour("build_params_as_keys") in (True, False)


@pytest.mark.parametrize("dim", [2, 4, 7, 64, 128, 130, 384, 768, 1000])
def test_pq_m_divides_dim_and_compresses_at_least_16x(dim):
    m = pq_m(dim)
    assert dim % m == 0 and m <= max(dim // 4, 1)
    assert not any(dim % larger == 0 for larger in range(m + 1, dim // 4 + 1))  # the largest such divisor


def test_every_advertised_index_is_one_the_course_knows():
    """One table: what an engine advertises is what check_index, search_knob and build_params accept."""
    engines = [describe("lite", "milvus_lite 3.2.2"), describe("server", "v2.3.5"), describe("server", "v2.6.4")]
    for info in engines:
        for index_type in info.vector_indexes:
            assert check_index(index_type) == index_type
            assert search_knob(index_type) == INDEX_TYPES[index_type].knob
            assert set(build_params(index_type, 10_000, 128)) <= set(INDEX_TYPES[index_type].params), index_type
    assert {"HNSW_PQ", "HNSW_PRQ", "IVF_RABITQ", "HNSW_SQ"} <= set(engines[2].vector_indexes)
    assert "IVF_PQ" not in engines[0].vector_indexes and "HNSW_SQ" not in engines[1].vector_indexes
    with pytest.raises(BadInput):
        check_index("BOGUS")


def test_scann_codes_are_4_bit_fast_scan_with_half_as_many_sub_quantizers_as_dimensions():
    raw_and_id = 4 * 128 + 8
    assert memory("SCANN", 128, {"nlist": 0}).bytes_per_vector == raw_and_id + 128 / 4
    assert memory("SCANN", 129, {"nlist": 0}).bytes_per_vector == 4 * 129 + 8 + 65 / 2  # (d+1)//2 codes of 4 bits


def test_hnsw_pq_stores_codes_not_vectors():
    hnsw = memory("HNSW", 128, build_params("HNSW", 10_000, 128)).bytes_per_vector
    pq = memory("HNSW_PQ", 128, build_params("HNSW_PQ", 10_000, 128)).bytes_per_vector
    assert pq == 32 + 2 * 16 * 4 + 8 and pq < hnsw / 3
