"""Seeded test data and exact ground truth.

Uniform random vectors make every ANN index look bad (no structure to
exploit) and every exact search look equal; real embeddings are clustered.
``clustered_vectors`` draws points around random centres, so recall figures
mean something, and ``exact_topk`` computes the true neighbours with NumPy
brute force — the yardstick every recall in this course is measured with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("L2", "IP", "COSINE")


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def clustered_vectors(
    n: int,
    dim: int,
    n_clusters: int = 50,
    spread: float = 0.5,
    seed: int = 0,
    normalized: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 vectors around ``n_clusters`` N(0, 1) centres, and their cluster labels.

    ``spread`` is the per-dimension standard deviation around a centre: small
    values give tight, easy clusters; values near 1 make clusters overlap and
    ANN search harder. The same arguments always give the same data.
    """
    if n <= 0 or dim <= 0 or n_clusters <= 0:
        raise ValueError("n, dim and n_clusters must be positive")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    labels = rng.integers(0, n_clusters, size=n)
    vectors = centres[labels] + spread * rng.standard_normal((n, dim), dtype=np.float32)
    return (normalize(vectors) if normalized else vectors.astype(np.float32)), labels


@dataclass(frozen=True)
class Dataset:
    """Base vectors to insert and query vectors from the same distribution."""

    base: np.ndarray
    queries: np.ndarray
    labels: np.ndarray


def make_dataset(n: int, dim: int, n_queries: int, n_clusters: int = 50, spread: float = 0.5, seed: int = 0) -> Dataset:
    """Base and query vectors drawn from the same clusters (queries are not copies of base rows)."""
    both, labels = clustered_vectors(n + n_queries, dim, n_clusters, spread, seed)
    return Dataset(base=both[:n], queries=both[n:], labels=labels[:n])


def exact_topk(
    base: np.ndarray, queries: np.ndarray, k: int, metric: str = "COSINE", batch: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` ids (row numbers in ``base``) and scores for each query.

    Scores follow Milvus' conventions: squared Euclidean distance for L2
    (smaller is closer), inner product or cosine similarity for IP and
    COSINE (larger is closer). Queries are processed in batches so memory
    stays bounded for large sets.
    """
    metric = metric.upper()
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    base = np.asarray(base, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    if base.ndim != 2 or queries.ndim != 2 or base.shape[1] != queries.shape[1]:
        raise ValueError(f"dimension mismatch: base {base.shape}, queries {queries.shape}")
    k = min(k, len(base))
    if metric == "COSINE":
        base, queries = normalize(base), normalize(queries)
    base_sq = (base * base).sum(axis=1) if metric == "L2" else None

    all_ids, all_scores = [], []
    for start in range(0, len(queries), batch):
        q = queries[start : start + batch]
        dots = q @ base.T
        if metric == "L2":
            # |q - b|^2 = |q|^2 - 2 q.b + |b|^2; turn into "larger is better" for one code path
            keys = -((q * q).sum(axis=1, keepdims=True) - 2 * dots + base_sq)
        else:
            keys = dots
        part = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        part_keys = np.take_along_axis(keys, part, axis=1)
        order = np.argsort(-part_keys, axis=1, kind="stable")
        ids = np.take_along_axis(part, order, axis=1)
        scores = np.take_along_axis(part_keys, order, axis=1)
        all_ids.append(ids)
        all_scores.append(-scores if metric == "L2" else scores)
    return np.vstack(all_ids), np.vstack(all_scores).astype(np.float32)
