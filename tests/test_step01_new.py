"""Lessons 1.5 (schema evolution) and 1.6 (upsert and delete) against the live engine named by MILVUS_URI.

Each engine's expected skips are listed here, so a section that stops running (or starts) is caught.
"""

from __future__ import annotations

import pytest

from tests.helpers import expected_for, run_lesson

pytestmark = pytest.mark.lesson

SCHEMA = "step01_basics/05_schema_evolution.py"
UPSERT = "step01_basics/06_upsert_and_delete.py"

# Sections of 1.5 each engine skips (the capability named in the skip line).
SCHEMA_SKIPS = {
    ("lite", "3.2"): {"add_field", "alter_field", "text_type", "struct_array", "nullable_vector"},
    ("server", "2.3"): {
        "nullable_fields",
        "add_field",
        "alter_field",
        "timestamptz",
        "geometry",
        "text_type",
        "struct_array",
        "nullable_vector",
    },
    ("server", "*"): set(),  # a 3.0 server has every one
}
UPSERT_SKIPS = {
    ("lite", "3.2"): {"collection_ttl", "entity_ttl", "compaction"},
    ("server", "2.3"): {"partial_update", "collection_ttl", "entity_ttl"},
    ("server", "*"): set(),
}
# What an upsert by key does to the row of an auto_id collection, as measured on each engine (None: not run here;
# the 2.6 docs say override mode gives the row a new key, the 2.6.3 release notes let a client write the key).
AUTOID_UPSERT = {("lite", "3.2"): "kept", ("server", "2.3"): "refused", ("server", "*"): None}


def skipped_capabilities(result: dict) -> set[str]:
    return {line.split("needs ")[1].split(" ")[0] for line in result["skipped"]}


def test_schema_evolution(engine_info):
    result = run_lesson(SCHEMA, "--n", "200")
    assert skipped_capabilities(result) == expected_for(SCHEMA_SKIPS, engine_info), result["skipped"]
    assert result["refused"] == []
    for line in result["skipped"]:
        assert f"(have {engine_info.label})" in line
    if engine_info.has("nullable_fields"):
        assert result["nullable_fields"]["rows_as_documented"] == 200
        assert result["nullable_fields"]["filters_match"]
        assert result["nullable_fields"]["null_ids"] > 0
    if engine_info.has("timestamptz"):
        times = result["timestamptz"]
        assert times["same_ids"] and 0 < times["window_ids"] == times["expected_ids"] < 200
    if engine_info.has("geometry"):
        places = result["geometry"]
        assert places["same_ids"] and places["hits_inside"] == min(10, places["inside"])
    if engine_info.has("add_field"):
        assert result["add_field"] == {"old_row_rating": None, "new_row_rating": 5}
    if engine_info.has("alter_field"):
        assert result["alter_field"]["refused_before"] and result["alter_field"]["max_length"] == 64


def test_upsert_and_delete(engine_info):
    result = run_lesson(UPSERT, "--n", "600", "--ttl", "1")
    assert skipped_capabilities(result) == expected_for(UPSERT_SKIPS, engine_info), result["skipped"]
    assert result["refused"] == []
    override = result["upsert"]["override"]
    assert override["title"] == "rewritten" and override["views"] == 11
    kept = engine_info.behaviour("upsert_keeps_omitted_fields")
    assert (override["color"] == "red") == kept
    assert bool(result["divergences"]) == kept  # the lesson names the divergence exactly where it happens
    if engine_info.has("partial_update"):
        assert result["upsert"]["merge"] == {"title": "t2", "views": 99, "color": "red"}
    if expected_for(AUTOID_UPSERT, engine_info) is not None:
        assert result["autoid_upsert"]["outcome"] == expected_for(AUTOID_UPSERT, engine_info)
    visibility = result["visibility"]
    assert visibility["strong_seen"] == 300
    assert visibility["unloaded_query"] == "refused"  # a released collection is not searchable on any engine here
    deletes = result["delete"]
    assert deletes["count_after_delete"] == deletes["expected"] == 420  # 600 rows, views = id % 100, 30% deleted
    assert deletes["deleted"] == 180 and deletes["deleted_in_results"] == 0
    if engine_info.has("compaction"):
        assert deletes["compaction"] in ("Completed", "Executing")  # asynchronous: waited for up to 15 s
    visible = result["ttl"]["visible_after_ttl"]
    assert visible == (0 if engine_info.has("collection_ttl") else 50)
