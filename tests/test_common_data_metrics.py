"""Unit tests of common.data and common.metrics with known answers (no engine)."""

from common.data import clustered_vectors, exact_topk, make_dataset, normalize
from common.metrics import Stopwatch, percentiles, recall_at_k, time_calls

import numpy as np
import pytest


def test_normalize_unit_rows_and_zero_rows():
    out = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out[0], [0.6, 0.8])
    assert np.allclose(out[1], [0.0, 0.0])


def test_clustered_vectors_are_seeded_normalised_and_clustered():
    a, labels = clustered_vectors(500, 16, n_clusters=5, spread=0.1, seed=1)
    b, _ = clustered_vectors(500, 16, n_clusters=5, spread=0.1, seed=1)
    c, _ = clustered_vectors(500, 16, n_clusters=5, spread=0.1, seed=2)
    assert a.dtype == np.float32 and a.shape == (500, 16)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # tight clusters: a point's nearest neighbour shares its label
    ids, _ = exact_topk(a, a[:50], 2, "COSINE")
    assert (labels[ids[:, 1]] == labels[:50]).mean() > 0.95


def test_make_dataset_queries_are_not_copies_of_base():
    data = make_dataset(200, 8, 20, seed=3)
    assert data.base.shape == (200, 8) and data.queries.shape == (20, 8)
    assert not any((data.base == q).all(axis=1).any() for q in data.queries)


def test_exact_topk_known_answers_for_each_metric():
    base = np.array([[0, 0], [1, 0], [0, 2], [3, 3]], dtype=np.float32)
    query = np.array([[1, 1]], dtype=np.float32)
    ids, scores = exact_topk(base, query, 4, "L2")
    assert ids[0].tolist() == [1, 0, 2, 3]  # squared distances 1, 2, 2, 8 (ties keep row order)
    assert np.allclose(scores[0], [1, 2, 2, 8])
    ids, scores = exact_topk(base, query, 2, "IP")
    assert ids[0].tolist() == [3, 2] and np.allclose(scores[0], [6, 2])
    ids, scores = exact_topk(base, query, 1, "COSINE")
    assert ids[0].tolist() == [3] and np.isclose(scores[0][0], 1.0)


def test_exact_topk_batches_agree_with_one_batch():
    data = make_dataset(300, 12, 40, seed=5)
    one, _ = exact_topk(data.base, data.queries, 10, "L2", batch=1000)
    many, _ = exact_topk(data.base, data.queries, 10, "L2", batch=7)
    assert np.array_equal(one, many)


def test_exact_topk_rejects_bad_input():
    with pytest.raises(ValueError, match="metric"):
        exact_topk(np.zeros((3, 2)), np.zeros((1, 2)), 1, "HAMMING")
    with pytest.raises(ValueError, match="dimension"):
        exact_topk(np.zeros((3, 2)), np.zeros((1, 3)), 1)


def test_recall_at_k():
    truth = [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert recall_at_k([[1, 2, 3, 4], [5, 6, 7, 8]], truth, 4) == 1.0
    assert recall_at_k([[4, 3, 9, 9], [8, 0, 0, 0]], truth, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert recall_at_k([[1], []], truth, 2) == pytest.approx(0.25)  # short result lists count as misses
    with pytest.raises(ValueError):
        recall_at_k([[1]], truth, 4)


def test_percentiles_known_values():
    p = percentiles(list(range(1, 101)))  # 1..100
    assert p["p50_ms"] == pytest.approx(50.5)
    assert p["p95_ms"] == pytest.approx(95.05)
    assert p["p99_ms"] == pytest.approx(99.01)
    with pytest.raises(ValueError):
        percentiles([])


def test_time_calls_serial_and_concurrent():
    import time

    serial = time_calls(lambda _: time.sleep(0.01), range(10))
    assert serial.calls == 10 and serial.concurrency == 1
    assert 9 < serial.p50_ms < 40
    assert 25 < serial.qps < 110
    concurrent = time_calls(lambda _: time.sleep(0.02), range(8), concurrency=4)
    assert concurrent.concurrency == 4
    assert concurrent.qps > 1.5 * (1000 / concurrent.mean_ms)  # four at a time beats one at a time


def test_stopwatch():
    import time

    with Stopwatch() as sw:
        time.sleep(0.02)
    assert 0.015 < sw.seconds < 0.5


def test_index_build_params_match_lesson_2_1():
    """Lesson 2.1 writes the build parameters out; later lessons take them from common.indexes."""
    import importlib.util

    from common.config import REPO_ROOT
    from common.indexes import build_params

    spec = importlib.util.spec_from_file_location("l21", REPO_ROOT / "step02_core_features/01_index_comparison.py")
    lesson = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lesson)
    for n, dim in ((8000, 64), (20000, 128), (20000, 130), (1_000_000, 384), (5000, 2), (5000, 7)):
        for index_type in lesson.CANDIDATES:
            assert lesson.build_params(index_type, n, dim) == build_params(index_type, n, dim), (index_type, n, dim)
