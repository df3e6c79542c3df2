"""Step 4 lessons against the live engine named by MILVUS_URI."""

from __future__ import annotations

import pytest

from tests.helpers import run_lesson

pytestmark = pytest.mark.lesson


def test_performance_patterns():
    result = run_lesson("step04_advanced/01_performance_patterns.py", "--requests", "60")
    assert result["reuse_speedup"] > 1.0  # a new connection per request costs more than reuse
    assert result["batch_speedup"] >= 10  # batch insert ≥ 10× row-by-row, in the same run
    assert result["best_batch"] >= 100
    assert result["hit_ratio"] > 0.5 and result["cache_speedup"] > 1.0
    # the cache serves a stale result after an upsert unless it is invalidated — and never after
    assert result["upserted_id_now_first"]
    assert result["stale_without_invalidation"]
    assert result["fresh_with_invalidation"]


def test_streaming_ingest_survives_a_kill():
    result = run_lesson("step04_advanced/04_streaming_ingest.py", "--events", "2000")
    assert result["killed_at"]["upserted"] > result["killed_at"]["acked"]  # killed between upsert and ack
    assert result["pending_after_kill"] > 0 and result["redelivered"] >= result["pending_after_kill"]
    assert result["rows_in_milvus"] == result["events_in"] == 2000
    assert result["distinct_ids"] == 2000
    assert result["duplicates"] == 0 and result["lost"] == 0
    assert result["throughput_eps"] > 0 and result["lag"]["p95_ms"] >= result["lag"]["p50_ms"] > 0


def test_backup_restore_round_trip(tmp_path):
    result = run_lesson("step04_advanced/05_backup_restore.py", "--n", "3000", "--dir", str(tmp_path))
    assert result["rows_after"] == result["rows_before"] == 3000
    assert result["ids_same"] and result["vector_checksum_same"] and result["rows_checksum_same"]
    assert result["topk_same"] == result["queries"]
    assert result["overwrite_refused"]
    assert all("SHA-256 does not match" in message for message in result["damage"].values())
    assert len(result["damage"]) == 2
    assert not result["left_behind_after_damage"]
