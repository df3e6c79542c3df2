"""Measurements: recall against ground truth, latency percentiles, throughput.

Latency is reported as p50/p95/p99 over many calls, never as one timing;
throughput always states its concurrency.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np


def recall_at_k(found: Sequence[Sequence[int]], truth: np.ndarray | Sequence[Sequence[int]], k: int) -> float:
    """Mean over queries of |found[:k] ∩ truth[:k]| / k.

    ``found`` may hold fewer than ``k`` ids for a query (a filter left too
    few rows); the missing ones count as misses.
    """
    if len(found) != len(truth):
        raise ValueError(f"{len(found)} result lists for {len(truth)} queries")
    if k <= 0:
        raise ValueError("k must be positive")
    hits = [len(set(list(f)[:k]) & set(list(t)[:k])) / k for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else 0.0


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 of latency samples in milliseconds (linear interpolation)."""
    if len(samples_ms) == 0:
        raise ValueError("no samples")
    p50, p95, p99 = np.percentile(np.asarray(samples_ms, dtype=float), [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


@dataclass(frozen=True)
class LatencyStats:
    calls: int
    concurrency: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    qps: float  # calls per second of wall-clock time at this concurrency

    def as_dict(self) -> dict:
        return asdict(self)


def _stats(samples_ms: list[float], wall_s: float, concurrency: int) -> LatencyStats:
    return LatencyStats(
        calls=len(samples_ms),
        concurrency=concurrency,
        mean_ms=float(np.mean(samples_ms)),
        qps=len(samples_ms) / wall_s if wall_s > 0 else float("inf"),
        **percentiles(samples_ms),
    )


def time_calls(fn: Callable, inputs: Sequence, concurrency: int = 1, warmup: int = 0) -> LatencyStats:
    """Call ``fn(x)`` for every ``x`` in ``inputs`` and measure each call.

    With ``concurrency > 1`` the calls run on that many threads; ``qps`` is
    calls divided by the wall-clock time of the whole run.
    """
    for x in inputs[:warmup]:
        fn(x)

    def timed(x) -> float:
        start = time.perf_counter()
        fn(x)
        return (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    if concurrency <= 1:
        samples = [timed(x) for x in inputs]
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            samples = list(pool.map(timed, inputs))
    return _stats(samples, time.perf_counter() - start, max(concurrency, 1))


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
