"""Step 4 lessons against the live engine named by MILVUS_URI."""

from __future__ import annotations

import pytest

from tests.helpers import expected_for, run_lesson

pytestmark = pytest.mark.lesson


STREAMING = "step04_advanced/04_streaming_ingest.py"


def test_performance_patterns(engine_info):
    result = run_lesson("step04_advanced/01_performance_patterns.py", "--requests", "60")
    assert result["flush_once_s"] > 0 and result["flush_each_s"] > 0
    if engine_info.kind == "server":  # each flush seals a segment there: a real cost
        assert result["flush_each_s"] > result["flush_once_s"]
    assert result["reuse_speedup"] > 1.0  # a new connection per request costs more than reuse
    assert result["batch_speedup"] >= 10  # batch insert ≥ 10× row-by-row, in the same run
    assert result["best_batch"] >= 100
    assert result["hit_ratio"] > 0.5 and result["cache_speedup"] > 1.0
    # the cache serves a stale result after an upsert unless it is invalidated — and never after
    assert result["upserted_id_now_first"]
    assert result["stale_without_invalidation"]
    assert result["fresh_with_invalidation"]


def test_streaming_ingest_survives_a_kill_a_rebalance_and_a_replay(engine_info):
    result = run_lesson(STREAMING, "--events", "2000", "--replay-ids", "200")
    check_streaming(result, 2000)
    moved = result["rebalance"]
    if engine_info.kind == "lite":  # Lite's gRPC server does not serialise writes: the consumers take turns
        assert moved["writes_serialised"]
        assert moved["writes_while_both_ran"]["a"] > 0 and moved["writes_while_both_ran"]["b"] > 0
        assert moved["overlapping_writes"] == 0
    else:  # a server serialises writes itself: no lock
        assert not moved["writes_serialised"]


def check_streaming(result: dict, events: int) -> None:
    kill, moved, replayed = result["kill"], result["rebalance"], result["replay"]
    for phase in (kill, moved):
        assert phase["rows_in_milvus"] == phase["events_in"] == phase["distinct_ids"] == events  # past query()'s 16,384
        assert phase["duplicates"] == 0 and phase["lost"] == 0
        assert phase["latency"]["before"]["p95_ms"] >= phase["latency"]["before"]["p50_ms"] > 0
    assert kill["killed_at"]["received"] > kill["killed_at"]["committed"]  # killed between upsert and commit
    assert kill["killed_at"]["exit"] == -9  # SIGKILL: no chance to clean up
    assert kill["redelivered"] == kill["killed_at"]["received"] - kill["killed_at"]["committed"] > 0
    assert kill["rewritten"] == 0  # the re-delivered batch held no newer version: not written twice
    assert kill["max_lag"] > 0
    assert sorted(moved["split_before"]["a"] + moved["split_before"]["b"]) == [0, 1, 2]
    assert moved["split_before"]["a"] and moved["b_after"] == [0, 1, 2]  # a's partitions moved to b
    # three versions per key went through the consumer; version 2 stayed everywhere, a plain upsert lost it everywhere
    ids = replayed["rows"]
    assert replayed["sent"] == 3 * ids and replayed["newest_kept"] == ids == replayed["plain_upsert_went_back"] > 0
    assert replayed["dropped_stale"] >= ids  # at least every replayed version-1 event was dropped
    assert replayed["written"] + replayed["dropped_stale"] == replayed["sent"]
    assert result["throughput_eps"] > 0


@pytest.mark.engine_neutral
def test_streaming_overlap_check_can_fail():
    """The no-overlap assertion above means something: overlapping intervals are counted, touching ones are not."""
    from common.streaming_proofs import overlapping

    assert overlapping([[0, 2], [5, 6]], [[1, 3], [6, 7]]) == 1
    assert overlapping([[0, 1], [2, 3]], [[1, 2], [3, 4]]) == 0


def test_backup_restore_round_trip(tmp_path):
    check_backup(run_lesson("step04_advanced/05_backup_restore.py", "--n", "3000", "--dir", str(tmp_path)), 3000)


def check_backup(result: dict, n: int) -> None:
    assert result["rows_after"] == result["rows_before"] == n
    assert result["ids_same"] and result["vector_checksum_same"] and result["rows_checksum_same"]
    assert result["index_same"]  # rebuilt with the build params the backup recorded
    assert result["topk_same"] == result["queries"]
    assert result["overwrite_refused"]
    assert all("SHA-256 does not match" in message for message in result["damage"].values())
    assert len(result["damage"]) == 2
    assert not result["left_behind_after_damage"]


def test_advanced_indexing_decides_gpu_up_front(engine_info):
    result = run_lesson("step04_advanced/02_advanced_indexing.py", "--n", "10000")
    built = {row["wanted"]: row["built"] for row in result["gpu"]}
    if engine_info.has("gpu_index"):
        assert built == {"GPU_IVF_FLAT": "GPU_IVF_FLAT", "GPU_CAGRA": "GPU_CAGRA"}
        assert result["skipped"] == []
    else:  # Lite and CPU servers: the documented fallback, said out loud
        assert built == {"GPU_IVF_FLAT": "IVF_FLAT", "GPU_CAGRA": "HNSW"}
        assert all(row["note"].startswith("fallback: no GPU") for row in result["gpu"])
        assert [line.split(":")[0] for line in result["skipped"]] == ["gpu"]
    assert all(row["recall@10"] >= 0.9 for row in result["gpu"])
    # the build params the table prints are the ones describe_index reports, and they are what was asked
    from common.indexes import build_params

    for row in result["gpu"]:
        assert row["build params"] == build_params(row["built"], 10000, 64), row
    assert result["same_rows"] and result["matching_rows"] > 0
    assert all(result["scalar_indexes"].values())
    assert set(result["indexes"].values()) >= {"HNSW", *result["scalar_indexes"].values()}


SCALING_SKIPS = {("lite", "3.2"): {"replicas"}, ("server", "*"): set()}


def test_scaling(engine_info):
    result = run_lesson("step04_advanced/03_scaling.py", "--n", "6000", "--queries", "25")
    sharding = result["sharding"]
    assert sharding["recall single"] == 1.0  # FLAT: exact
    assert sharding["recall merge by score, same metric"] == 1.0  # the merge is right with one metric
    assert sharding["recall merge by score, mixed metrics"] < 0.9  # and silently wrong without
    assert sharding["recall round-robin merge"] < 1.0
    assert sharding["fan-out p50 ms"] > 0 and sharding["single p50 ms"] > 0
    assert result["tenancy"]["hits from another tenant"] == 0
    assert {line.split(":")[0] for line in result["skipped"]} == expected_for(SCALING_SKIPS, engine_info)
    if engine_info.has("replicas"):
        assert result["replicas"]["replicas with replica_number=1"] == 1
    # num_shards: what the engine reports (the divergence register) and a sentence that says so
    described = {row["num_shards"]: row["described"] for row in result["shards"]}
    assert described[2] == engine_info.behaviour("num_shards_described")
    assert ("ignores num_shards" in result["shards_sentence"]) is (described[2] != 2), result["shards_sentence"]
    # the fan-out prose follows its own numbers: cheaper only when the ratio is below 1
    ratio = sharding["fan-out cost"]
    assert f"×{ratio:.2f}" in result["fan_out_sentence"]
    assert ("cheaper here" in result["fan_out_sentence"]) is (ratio < 1), (ratio, result["fan_out_sentence"])
    hnsw_1m = result["capacity"][0]["HNSW GiB"]
    assert 2.5 < hnsw_1m < 3.5  # 1M × 768-d: 4·768 + 2·16·4 + 8 bytes ≈ 3,208 bytes per vector


MONITORING_SKIPS = {("lite", "3.2"): {"server metrics"}, ("server", "*"): set()}


def test_monitoring(engine_info):
    result = run_lesson("step04_advanced/06_monitoring.py", "--requests", "100", "--metrics-port", "0")
    assert result["requests"] == result["histogram_count"] == 100
    assert result["errors"] == 2  # every 50th request targets a missing collection
    assert 0 < result["mean_ms"] and result["p95_bucket_ms"] > 0
    assert {line.split(":")[0] for line in result["skipped"]} == expected_for(MONITORING_SKIPS, engine_info)
    if engine_info.has("metrics_endpoint"):
        assert result["server_metrics"]["found"].get("milvus_proxy_req_count_total", 0) > 0
    health = result["health"]
    assert health["healthy"] == []  # nothing to fix on a healthy collection ...
    # ... and each fault made on purpose is named by its own check
    assert "probe search p95 ≤ 0.001 ms" in health["threshold 0.001 ms"]
    assert health["3 rows deleted"] == ["row count"]
    assert "loaded" in health["released"]
    assert "vector index built" in health["index dropped"]
