"""Lessons 1.5, 1.6, 4.7 and 4.8 taking their 2.5-3.0 branches against the 2.3.5 server (MILVUS_ASSUME_VERSION).

As in test_assumed_version.py: each lesson must exit 0 without a traceback and name every section the real
server refuses (or accepts and does not carry out). The requests themselves are checked without a server in
test_contract_3x_data.py. Field types the 2.3.5 server does not know are refused before they are sent:
creating a collection with a TIMESTAMPTZ field makes that server exit.
"""

from __future__ import annotations

import pytest

from tests.helpers import run_lesson_output

pytestmark = pytest.mark.lesson

ASSUMED = {"MILVUS_ASSUME_VERSION": "3.0.2"}
REFUSED_BY_2_3 = {
    "step01_basics/05_schema_evolution.py": (
        ["--n", "100"],
        {
            "nullable_fields",
            "add_field",
            "alter_field",
            "timestamptz",
            "geometry",
            "text_type",
            "struct_array",
            "nullable_vector",
        },
    ),
    "step01_basics/06_upsert_and_delete.py": (
        ["--n", "400", "--ttl", "1"],
        {"partial_update", "collection_ttl", "entity_ttl"},
    ),
    "step04_advanced/07_bulk_import.py": (["--n", "500", "--dim", "8"], {"bulk_import"}),
    "step04_advanced/08_databases_and_snapshots.py": (["--n", "50"], {"snapshots"}),
}
NOT_SENT = {"timestamptz", "geometry", "text_type", "struct_array", "nullable_vector", "entity_ttl"}


@pytest.fixture
def server_2_3(engine_info):
    if engine_info.kind != "server" or engine_info.version[:2] != (2, 3):
        pytest.skip(
            f"needs the embedded Milvus server 2.3 (have {engine_info.label}): "
            "MILVUS_ASSUME_VERSION describes a server as another version"
        )
    return engine_info


@pytest.mark.parametrize("lesson", sorted(REFUSED_BY_2_3))
def test_3x_data_branches_end_in_named_refusals(server_2_3, lesson):
    argv, expected = REFUSED_BY_2_3[lesson]
    result, stderr = run_lesson_output(lesson, *argv, env=ASSUMED, timeout=600)
    assert "Traceback" not in stderr, stderr[-3000:]
    refused = {
        line.split(":")[0]: line for line in result["refused"] if "refused by" in line or "not honoured by" in line
    }
    assert set(refused) == expected, result["refused"]
    for name, line in refused.items():
        assert "Milvus server 2.3.5" in line, line
        assert ("not sent" in line) == (name in NOT_SENT), line
