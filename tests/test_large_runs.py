"""Lessons past query()'s 16,384-row cap, counted exactly: once, on Milvus Lite files of their own (pass 1).

"Nothing lost" needs an exact count: lessons read every row with query_iterator and compare with count(*).
These sizes take a minute each, so they run once rather than on every engine; the lesson tests check the
same code paths at default size on every engine.
"""

import os

from tests.helpers import run_lesson
from tests.test_step04 import STREAMING, check_backup, check_streaming


def test_streaming_20000_events_every_one_once(tmp_path):
    env = {"MILVUS_URI": str(tmp_path / "stream.db"), "COURSE_MILVUS_URI": ""}
    result = run_lesson(STREAMING, "--events", "20000", "--rate", "10000", env={**os.environ, **env})
    check_streaming(result, 20000)
    assert result["rebalance"]["writes_serialised"] and result["rebalance"]["overlapping_writes"] == 0  # Lite: turns


def test_backup_restore_20000_rows_identical(tmp_path):
    env = {"MILVUS_URI": str(tmp_path / "backup.db"), "COURSE_MILVUS_URI": ""}
    result = run_lesson(
        "step04_advanced/05_backup_restore.py",
        "--n",
        "20000",
        "--dir",
        str(tmp_path / "backups"),
        env={**os.environ, **env},
    )
    check_backup(result, 20000)
