"""Unit tests of common.indexes: the build-params shim, what describe_index reports, index arithmetic."""

import json

from common.engine import describe
from common.indexes import applied_build_params, engine_build_params, reported_build_params, unapplied_build_params

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
