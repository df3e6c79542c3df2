"""Lessons 4.7 (bulk import) and 4.8 (databases and snapshots) against the live engine named by MILVUS_URI."""

from __future__ import annotations

import pytest

from tests.helpers import expected_for, run_lesson, run_lesson_script

pytestmark = pytest.mark.lesson

BULK = "step04_advanced/07_bulk_import.py"
TENANCY = "step04_advanced/08_databases_and_snapshots.py"

BULK_SKIPS = {("lite", "3.2"): {"bulk_import"}, ("server", "2.3"): set(), ("server", "*"): set()}
TENANCY_SKIPS = {
    ("lite", "3.2"): {"rbac", "snapshots"},
    # the embedded server runs without authorization: granting needs an authenticated connection
    ("server", "2.3"): {"authorization", "snapshots"},
    ("server", "*"): set(),
}


def skipped_capabilities(result: dict) -> set[str]:
    return {line.split("needs ")[1].split(" ")[0] for line in result["skipped"]}


def test_bulk_import(engine_info, tmp_path):
    result = run_lesson(BULK, "--n", "3000", "--dim", "16", "--chunk-mb", "1", "--keep", str(tmp_path))
    assert skipped_capabilities(result) == expected_for(BULK_SKIPS, engine_info), result["skipped"]
    assert result["refused"] == []
    written = result["written"]
    assert written["all_equal"]
    assert {row["format"] for row in written["formats"]} == {"Parquet", "JSON"}
    kept = sorted(p.suffix for p in tmp_path.rglob("*.*"))
    assert ".parquet" in kept and ".json" in kept  # --keep leaves the files for a server to import
    assert result["imported"]["insert_rows_per_s"] > 0
    if engine_info.has("bulk_insert") or engine_info.has("bulk_import"):
        assert result["imported"]["state"] == "Completed", result["imported"]
        assert result["imported"]["rows"] == 3000


def test_bulk_import_removes_only_its_own_temporary_files(tmp_path):
    run_lesson(BULK, "--n", "200", "--dim", "8", env={"TMPDIR": str(tmp_path)})
    assert list(tmp_path.glob("course-bulk-*")) == []


def test_databases_and_snapshots(engine_info):
    result = run_lesson(TENANCY, "--n", "100")
    assert skipped_capabilities(result) == expected_for(TENANCY_SKIPS, engine_info), result["skipped"]
    assert result["refused"] == []
    assert result["isolated"]
    assert [(t["rows"], t["expected"]) for t in result["tenants"]["tenants"]] == [(100, 100), (50, 50)]
    assert result["tenants"]["listed"] == ["s4_l8_acme", "s4_l8_globex"]
    assert result["tenants"]["left_after_drop"] == []


@pytest.mark.engine_neutral
@pytest.mark.parametrize("lesson", [BULK, TENANCY])
def test_new_step4_lessons_run_twice_from_another_directory(lesson, tmp_path):
    for _ in range(2):
        done = run_lesson_script(lesson, "--n", "200", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr
