# %% [markdown]
"""
Anomaly detection: a point far from its nearest neighbours is suspicious — measured against known labels.

What you learn
  - the k-NN anomaly score: the distance from a new point to its k-th nearest
    neighbour among known-normal points, found by a Milvus search (limit=k);
  - how to choose the threshold: on held-out validation points with known labels
    (the best F1), never on the points you then report on;
  - precision and recall of the flagged points on a separate test set, next to the
    same scores computed exactly in NumPy: how much the ANN index changes the verdicts;
  - a picture of the two score distributions and the threshold between them.

The data is generated with known anomalies: normal points come from 30 clusters in 64-d;
anomalies are points from nowhere near a cluster (uniform in the data's bounding box) and
"near misses": points 1.3 times as far from a cluster centre as a typical member (the hard half).

Prerequisites  Step 2 (indexes, search)
Run            python step03_use_cases/05_anomaly_detection.py [--reference 8000] [--k 5]
Docs           docs/step03_use_cases.md, section "05 이상 탐지"
"""

# %%
from __future__ import annotations

from common import cli, indexes
from common.data import exact_topk
from common.report import heading, new_figure, save_figure, save_json, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

PREFIX = "s3_l5_"
REFERENCE = PREFIX + "reference"
DIM = 64
CLUSTERS = 30  # distinct normal centres


# %% [markdown]
# ## Normal points and anomalies


# %%
def make_points(
    n_normal: int, n_anomalies: int, rng, centres: np.ndarray, spread: float
) -> tuple[np.ndarray, np.ndarray]:
    """Normal points around the centres, and anomalies: half far from everything, half just outside a cluster
    (a typical member lies spread·√DIM from its centre; these lie 1.3 times that)."""
    normal = centres[rng.integers(0, len(centres), n_normal)] + spread * rng.standard_normal((n_normal, DIM))
    low, high = centres.min(axis=0) - 1, centres.max(axis=0) + 1
    far = rng.uniform(low, high, size=(n_anomalies // 2, DIM))
    direction = rng.standard_normal((n_anomalies - len(far), DIM))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    pushed = centres[rng.integers(0, len(centres), len(direction))] + 1.3 * spread * np.sqrt(DIM) * direction
    points = np.vstack([normal, far, pushed]).astype(np.float32)
    labels = np.r_[np.zeros(n_normal, bool), np.ones(n_anomalies, bool)]
    order = rng.permutation(len(points))
    return points[order], labels[order]


# %% [markdown]
# ## Score = distance to the k-th neighbour


# %%
# docs:begin reference
def index_reference(client, info, normal: np.ndarray) -> None:
    """Known-normal points in a collection with an HNSW index on L2 distance."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="L2",  # a distance, not an angle
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),  # Lite: as one JSON entry
    )
    drop_if_exists(client, REFERENCE)
    client.create_collection(
        collection_name=REFERENCE, schema=schema, index_params=index_params, consistency_level="Bounded"
    )
    rows = vector_rows(normal, id=range(len(normal)))
    for start in range(0, len(rows), 5000):
        client.insert(collection_name=REFERENCE, data=rows[start : start + 5000])
    client.flush(collection_name=REFERENCE)


def knn_scores(client, points: np.ndarray, k: int) -> np.ndarray:
    """Anomaly score of each point: L2 distance to its k-th nearest reference point (Milvus returns squared L2)."""
    scores = []
    for start in range(0, len(points), 200):
        hits = client.search(
            collection_name=REFERENCE,
            data=points[start : start + 200].tolist(),
            anns_field="embedding",
            limit=k,
            search_params={"metric_type": "L2", "params": {"ef": 64}},
        )
        scores += [np.sqrt(row[-1]["distance"]) for row in hits]  # the k-th (last) neighbour
    return np.asarray(scores)


# docs:end


def exact_scores(reference: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    _, distances = exact_topk(reference, points, k, "L2")
    return np.sqrt(distances[:, -1])


# %% [markdown]
# ## A threshold from validation, scored on test


# %%
# docs:begin threshold
def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score cut with the best F1 on labelled validation points (flag: score > threshold)."""
    best, best_f1 = float(scores.max()), -1.0
    for candidate in np.unique(scores):
        f1 = quality(scores > candidate, labels)["F1"]
        if f1 > best_f1:
            best, best_f1 = float(candidate), f1
    return best


def quality(flagged: np.ndarray, labels: np.ndarray) -> dict:
    true_positive = int((flagged & labels).sum())
    precision = true_positive / max(int(flagged.sum()), 1)
    recall = true_positive / max(int(labels.sum()), 1)
    return {
        "flagged": int(flagged.sum()),
        "precision": precision,
        "recall": recall,
        "F1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }


# docs:end


# %% [markdown]
# ## A histogram of the scores


# %%
def plot(scores: np.ndarray, labels: np.ndarray, threshold: float) -> str:
    fig, ax = new_figure()
    bins = np.linspace(0, np.percentile(scores, 99.5), 60)
    ax.hist(scores[~labels], bins=bins, alpha=0.6, label="normal (test)")
    ax.hist(scores[labels], bins=bins, alpha=0.6, label="anomaly (test)")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f} (from validation)")
    ax.set_xlabel("distance to the k-th nearest normal point (Milvus, HNSW)")
    ax.set_ylabel("points")
    ax.legend()
    return str(save_figure(fig, "step03_anomaly_detection"))


# %% [markdown]
# ## Run the sections in order


# %%
def parse(argv):
    parser = cli.lesson_parser(__doc__)
    parser.add_argument(
        "--reference", type=cli.int_range(200, 2_000_000), default=8000, help="known-normal points indexed"
    )
    parser.add_argument(
        "--eval",
        type=cli.int_range(100, 1_000_000),
        default=2000,
        help="normal points in validation and in test, each (default 2000)",
    )
    parser.add_argument(
        "--anomalies",
        type=cli.int_range(10, 100_000),
        default=100,
        help="anomalies in validation and in test, each (default 100)",
    )
    parser.add_argument("--k", type=cli.int_range(1, 100), default=5, help="which neighbour's distance is the score")
    parser.add_argument("--seed", type=cli.SEED, default=13)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    rng = np.random.default_rng(args.seed)
    centres = 4 * rng.standard_normal((CLUSTERS, DIM))  # 30 distinct cluster centres
    distinct = len(np.unique(centres, axis=0))
    reference = make_points(args.reference, 0, rng, centres, 1.0)[0]
    validation = make_points(args.eval, args.anomalies, rng, centres, 1.0)
    test = make_points(args.eval, args.anomalies, rng, centres, 1.0)
    with cli.engine(args.uri) as (client, info):
        heading(f"1. Index {args.reference:,} known-normal points; score = distance to the {args.k}-th neighbour")
        print(f"normal points come from {distinct} distinct cluster centres in {DIM}-d")
        index_reference(client, info, reference)
        scores = {
            name: knn_scores(client, points, args.k)
            for name, (points, _) in (("validation", validation), ("test", test))
        }
        drop_if_exists(client, REFERENCE)
    heading("2. Threshold from the validation set; precision and recall on the test set")
    threshold = best_threshold(scores["validation"], validation[1])
    exact = {
        name: exact_scores(reference, points, args.k)
        for name, (points, _) in (("validation", validation), ("test", test))
    }
    exact_threshold = best_threshold(exact["validation"], validation[1])
    rows = [
        {"scores": "Milvus (HNSW)", "threshold": threshold, **quality(scores["test"] > threshold, test[1])},
        {"scores": "exact (NumPy)", "threshold": exact_threshold, **quality(exact["test"] > exact_threshold, test[1])},
    ]
    table(rows)
    same = float(np.mean((scores["test"] > threshold) == (exact["test"] > exact_threshold)))
    print(
        f"{len(test[1]) - test[1].sum()} normal + {test[1].sum()} anomalous test points; the two verdicts agree on "
        f"{same:.1%} of them; base rate {test[1].mean():.1%} (random flagging has precision ≈ base rate)"
    )
    png = plot(scores["test"], test[1], threshold)
    print(f"plot: {png}")
    result = {
        "headline": f"precision {rows[0]['precision']:.2f}, recall {rows[0]['recall']:.2f} on held-out test points "
        f"(exact: {rows[1]['precision']:.2f} / {rows[1]['recall']:.2f})",
        "engine": info.kind,
        "milvus": rows[0],
        "exact": rows[1],
        "agreement": same,
        "normal_centres": distinct,
        "base_rate": float(test[1].mean()),
        "plot": png,
        "skipped": [],
    }
    save_json("step03_anomaly_detection", result)
    return result


# %%
if __name__ == "__main__":
    cli.run(main)
