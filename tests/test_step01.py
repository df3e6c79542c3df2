"""Step 1 lessons against the live engine named by MILVUS_URI."""

from __future__ import annotations

import time

import pytest

from tests.helpers import expected_for, run_lesson, run_lesson_script

pytestmark = pytest.mark.lesson

STEP1 = [
    "step01_basics/01_environment_check.py",
    "step01_basics/02_connection_patterns.py",
    "step01_basics/03_schema_and_collections.py",
    "step01_basics/04_insert_and_search.py",
]
SMALL = {"step01_basics/04_insert_and_search.py": ["--n", "2000", "--queries", "40"]}

# Which extra vector types lesson 1.3 must skip, per engine (the capability table in common/engine.py).
VECTOR_SKIPS = {
    ("lite", "3.2"): {"FLOAT16_VECTOR", "BFLOAT16_VECTOR", "BINARY_VECTOR"},
    ("server", "2.3"): {"BFLOAT16_VECTOR", "SPARSE_FLOAT_VECTOR"},
    ("server", "*"): set(),  # 2.4+ has them all
}


def test_environment_check(engine_info):
    result = run_lesson(STEP1[0], "--pings", "20")
    assert result["engine"] == engine_info.kind
    assert result["python_ok"] and result["packages_ok"]
    assert result["ping"]["calls"] == 20
    assert 0 < result["ping"]["p50_ms"] <= result["ping"]["p95_ms"] <= result["ping"]["p99_ms"]
    assert "FLAT" in result["vector_indexes"]
    assert result["skipped"] == []


def test_connection_patterns_fail_fast_and_reuse():
    result = run_lesson(STEP1[1], "--requests", "15", "--timeout", "1.5")
    assert result["closed_port_s"] < 1.0
    # the silent server costs the timeout, not more (and not zero: it really waited)
    assert 1.0 < result["silent_server_s"] < 4.0
    assert result["reconnect_p50_ms"] > result["reuse_p50_ms"]
    assert result["config_sources"]["MILVUS_URI"] == "environment"


def test_schema_and_collections(engine_info):
    result = run_lesson(STEP1[2])
    assert result["fields"]["embedding"] == "FLOAT_VECTOR"
    assert result["fields"]["details"] == "JSON" and result["fields"]["tags"] == "ARRAY"
    assert result["fields"]["edition"] == "INT8" and result["fields"]["year"] == "INT16"
    assert result["build_params"] == {"M": 16, "efConstruction": 64}  # applied as asked, on every engine
    assert result["rows"] == 20
    assert result["filtered_rows"] == 3  # rows 1, 3, 5 (city Seoul = odd i, paperback = odd i), limit 3
    assert result["renamed"] and result["dropped"]
    assert "dim" in result["schema_error"]
    assert result["vector_types_failed"] == []
    skipped = {line.split(":")[0] for line in result["skipped"]}
    assert skipped == expected_for(VECTOR_SKIPS, engine_info)
    for line in result["skipped"]:
        assert f"(have {engine_info.label})" in line


def test_insert_and_search_figures():
    result = run_lesson(STEP1[3], *SMALL[STEP1[3]])
    assert result["rows_stored"] == 2000
    assert result["build_params"] == {"M": 16, "efConstruction": 128}  # applied as asked, on every engine
    assert result["recall_at_10"] >= 0.95
    assert all(check["ok"] for check in result["checks"]), result["checks"]
    wrong_dim, wrong_type = result["bad_input"]
    assert [case["rows stored"] for case in result["bad_input"]] == [0, 0]  # sent through client.insert itself
    assert wrong_type["refused by"] == "pymilvus, on the client (nothing sent)", wrong_type
    assert "year" in wrong_type["Milvus said"], wrong_type
    assert wrong_dim["refused by"] in ("the engine (its reply)", "pymilvus, on the client (nothing sent)"), wrong_dim
    assert wrong_dim["Milvus said"], wrong_dim  # each engine words it its own way; something must be said
    assert "'embedding'" in wrong_dim["course check"] and "384" in wrong_dim["course check"]
    assert "'year'" in wrong_type["course check"]
    metrics = result["metrics"]
    assert metrics["milvus_matches_numpy"]
    assert metrics["raw_rankings_differ"]
    assert metrics["ip_equals_cosine_normalised"]


@pytest.mark.engine_neutral
@pytest.mark.parametrize("lesson", STEP1)
def test_dead_uri_fails_fast_with_one_message(lesson, tmp_path):
    start = time.monotonic()
    done = run_lesson_script(lesson, cwd=tmp_path, env={"MILVUS_URI": "http://127.0.0.1:1"}, timeout=60)
    elapsed = time.monotonic() - start
    assert done.returncode != 0
    assert elapsed < 15
    assert "Traceback" not in done.stderr
    assert "http://127.0.0.1:1" in done.stderr
    assert "MILVUS_URI" in done.stderr and "make server" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3


@pytest.mark.engine_neutral
def test_lite_path_in_milvus_uri_works_from_a_plain_shell(tmp_path):
    """A learner's `MILVUS_URI=./my.db python lesson.py`: pymilvus rejects a file path at import,
    so every lesson must import `common` (which moves it aside) before pymilvus."""
    done = run_lesson_script(
        "step01_basics/04_insert_and_search.py",
        *SMALL["step01_basics/04_insert_and_search.py"],
        cwd=tmp_path,
        env={"MILVUS_URI": str(tmp_path / "plain.db")},
        unset=("COURSE_MILVUS_URI",),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Illegal uri" not in done.stderr
