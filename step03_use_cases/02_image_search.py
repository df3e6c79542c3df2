# %% [markdown]
"""
Image search with metadata: find handwritten digits that look like an example.

What you learn
  - image search is vector search on features: here the 8×8 pixels of
    scikit-learn's digits (1,797 real scans shipped with the package), scaled
    to [0, 1] — 64 numbers per image — and a 16-d PCA of them for comparison;
  - metadata next to the vector (label, ink density) and filters on it: "similar images with heavy strokes", "the most
    similar image of a *different* digit" (which digits get confused);
  - how good it is: label precision@10 on held-out query images against a
    random baseline, and recall@10 of the HNSW index against exact NumPy
    search;
  - a PNG grid of queries and their results (reports/step03_image_search.png).

  Optional: with IMAGE_MODEL set to a local CLIP model (sentence-transformers
  "clip-ViT-B-32"), images are embedded with CLIP instead, and text queries
  ("a handwritten digit seven") search the images. The lesson says which
  path ran; nothing is downloaded.

Prerequisites  01_text_search.py
Run            python step03_use_cases/02_image_search.py [--queries 360] [--seed 0]
Docs           docs/step03_use_cases.md, section "02 이미지 검색"
"""

# %%
from __future__ import annotations

from common import cli, indexes
from common.config import load_settings
from common.data import exact_topk
from common.embeddings import load_model
from common.metrics import recall_at_k, time_calls
from common.report import heading, new_figure, save_figure, save_json, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

PIXELS, PCA, CLIP = "s3_l2_digits_pixels", "s3_l2_digits_pca", "s3_l2_digits_clip"  # one collection per feature set
K = 10
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# %% [markdown]
# ## Images and their features


# %%
def load_digits_split(n_queries: int, seed: int):
    """The digits, their metadata, and a random split into indexed images and held-out queries."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.data / 16.0).astype(np.float32)  # 0..16 grey levels → 0..1
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pixels))
    return digits.images, pixels, digits.target, order[n_queries:], order[:n_queries]


def pca_features(pixels: np.ndarray, fit_rows: np.ndarray, dim: int) -> np.ndarray:
    """PCA fitted on the indexed images only (queries are unseen data)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dim, random_state=0).fit(pixels[fit_rows])
    return pca.transform(pixels).astype(np.float32)


def clip_features(model, images: np.ndarray) -> np.ndarray:
    """CLIP image embeddings of the digits, upscaled to 224×224 greyscale-as-RGB pictures."""
    from PIL import Image

    pictures = [
        Image.fromarray((255 - img * 255 / 16).astype(np.uint8)).resize((224, 224)).convert("RGB") for img in images
    ]
    return model.encode(pictures, batch_size=32)


# %% [markdown]
# ## Index and search


# %%
# docs:begin index-search
def index_images(
    client, info, collection: str, features: np.ndarray, labels, ink, rows: np.ndarray, metric: str
) -> None:
    """One row per image: its feature vector plus metadata (digit label, ink density) to filter on."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="label", datatype=DataType.INT64)
    schema.add_field(field_name="ink", datatype=DataType.FLOAT)  # share of the 8×8 grid that is inked
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=features.shape[1])
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type=metric,  # L2 pixels, COSINE CLIP
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    drop_if_exists(client, collection)
    # Bounded: rows are flushed before load, so searches see them without the server's Strong wait.
    client.create_collection(
        collection_name=collection, schema=schema, index_params=index_params, consistency_level="Bounded"
    )
    client.insert(
        collection_name=collection,
        data=vector_rows(features[rows], id=rows.tolist(), label=labels[rows].tolist(), ink=ink[rows].tolist()),
    )
    client.flush(collection_name=collection)
    client.load_collection(collection_name=collection)


def search(client, collection: str, vectors: np.ndarray, metric: str, filter: str = "") -> list[list[dict]]:
    """Top-K similar images, optionally only among those passing a metadata filter (e.g. "ink >= 0.4")."""
    hits = client.search(
        collection_name=collection,
        data=vectors.tolist(),
        anns_field="embedding",
        limit=K,
        filter=filter,
        output_fields=["label", "ink"],
        search_params={"metric_type": metric, "params": {"ef": 64}},
    )
    return [
        [
            {"id": h["id"], "label": h["entity"]["label"], "ink": h["entity"]["ink"], "distance": h["distance"]}
            for h in row
        ]
        for row in hits
    ]


# docs:end


# %% [markdown]
# ## Label precision against random


# %%
def precision_at_k(results: list[list[dict]], query_labels) -> float:
    return float(np.mean([np.mean([h["label"] == label for h in row]) for row, label in zip(results, query_labels)]))


def evaluate(client, info, collection, name, features, labels, ink, indexed, queries, metric) -> dict:
    index_images(client, info, collection, features, labels, ink, indexed, metric)
    results = search(client, collection, features[queries], metric)
    truth, _ = exact_topk(features[indexed], features[queries], K, metric)
    found = [[h["id"] for h in row] for row in results]
    latency = time_calls(
        lambda v: client.search(collection, [v], anns_field="embedding", limit=K),
        features[queries[:100]].tolist(),
        warmup=5,
    )
    return {
        "features": name,
        "dim": features.shape[1],
        "precision@10": precision_at_k(results, labels[queries]),
        "recall@10 vs exact": recall_at_k(found, indexed[truth], K),
        "p50 ms": latency.p50_ms,
    }


# %% [markdown]
# ## Metadata filters on the same search


# %%
def filtered_searches(client, features, labels, ink, queries, metric) -> dict:
    heavy = float(np.median(ink))
    heavy_hits = search(client, PIXELS, features[queries], metric, filter=f"ink >= {heavy:.4f}")
    # One search per query: the nearest images that are *not* the query's digit.
    others = [
        search(client, PIXELS, features[q : q + 1], metric, filter=f"label != {int(labels[q])}")[0] for q in queries
    ]
    confusions: dict[tuple[int, int], int] = {}
    for q, row in zip(queries, others):
        if not row:
            continue  # counted below as a short result list
        pair = tuple(sorted((int(labels[q]), row[0]["label"])))
        confusions[pair] = confusions.get(pair, 0) + 1
    top = sorted(confusions.items(), key=lambda item: -item[1])[:5]
    return {
        "ink filter": f"ink >= {heavy:.4f}",
        "every hit passes the ink filter": all(h["ink"] >= heavy - 1e-6 for row in heavy_hits for h in row),
        "precision@10 with the ink filter": precision_at_k(heavy_hits, labels[queries]),
        "every hit has another label": all(h["label"] != labels[q] for q, row in zip(queries, others) for h in row),
        "short result lists": sum(len(row) < K for row in [*heavy_hits, *others]),
        "most confused pairs": [{"digits": f"{a} ↔ {b}", "queries": n} for (a, b), n in top],
    }


def text_to_image(client, model, metric) -> dict:
    """CLIP only: search the images with a sentence and check the labels that come back."""
    queries = [f"a handwritten digit {word}" for word in WORDS]
    results = search(client, CLIP, model.encode(queries, progress=False), metric)
    return {"queries": len(queries), "precision@10": precision_at_k(results, list(range(10)))}


# %% [markdown]
# ## A picture of the results


# %%
def save_grid(images, labels, queries, results) -> str:
    fig, axes = new_figure(11, 1.25 * len(queries))
    fig.clf()
    grid = fig.subplots(len(queries), K + 1)
    for r, (q, row) in enumerate(zip(queries, results)):
        cells = [(q, f"query: {labels[q]}", "black")] + [
            (h["id"], f"{h['label']}  d={h['distance']:.2f}", "green" if h["label"] == labels[q] else "red")
            for h in row
        ]
        for c, (image_id, title, colour) in enumerate(cells):
            ax = grid[r][c]
            ax.imshow(images[image_id], cmap="gray_r")
            ax.set_title(title, fontsize=7, color=colour)
            ax.axis("off")
    fig.suptitle("Digits: query (left) and its 10 nearest images (green = same label)", fontsize=9)
    return str(save_figure(fig, "step03_image_search"))


# %% [markdown]
# ## The sections


# %%
def feature_rows(client, info, images, pixels, labels, ink, indexed, queries, clip, pca_dim: int):
    """precision@10 for raw pixels, PCA of pixels, and CLIP when a model is configured."""
    rows = [
        evaluate(client, info, PIXELS, "pixels / 16", pixels, labels, ink, indexed, queries, "L2"),
        evaluate(
            client,
            info,
            PCA,
            f"PCA-{pca_dim} of pixels",
            pca_features(pixels, indexed, pca_dim),
            labels,
            ink,
            indexed,
            queries,
            "L2",
        ),
    ]
    clip_text = None
    if clip:
        clip_vectors = clip_features(clip, images)
        rows.append(
            evaluate(client, info, CLIP, "CLIP image embedding", clip_vectors, labels, ink, indexed, queries, "COSINE")
        )
        clip_text = text_to_image(client, clip, "COSINE")
    return rows, clip_text


def filter_section(client, pixels, labels, ink, queries) -> dict:
    heading("2. Metadata filters on the same search")
    filtered = filtered_searches(client, pixels, labels, ink, queries, "L2")
    print(
        f"filter {filtered['ink filter']!r}: every hit passes: {filtered['every hit passes the ink filter']}; "
        f"precision@10 {filtered['precision@10 with the ink filter']:.3f}"
    )
    print(
        f"filter 'label != <query label>' → the most similar *other* digit (every hit has another label: "
        f"{filtered['every hit has another label']}); the pairs most often confused:"
    )
    table(filtered["most confused pairs"])
    return filtered


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument(
        "--queries", type=cli.int_range(10, 1000), default=360, help="held-out query images (default 360, 20%%)"
    )
    parser.add_argument("--pca-dim", type=cli.int_range(1, 64), default=16)
    parser.add_argument("--seed", type=cli.SEED, default=0)
    args = parser.parse_args(argv)

    images, pixels, labels, indexed, queries = load_digits_split(args.queries, args.seed)
    ink = (pixels > 0.25).mean(axis=1)
    image_model_name = load_settings().image_model
    clip = load_model(image_model_name, setting="IMAGE_MODEL") if image_model_name else None
    path = f"CLIP ({image_model_name})" if clip else "pixel features (IMAGE_MODEL not set)"

    with cli.engine(args.uri) as (client, info):
        heading(f"1. {len(indexed)} indexed digits, {len(queries)} held-out queries; path: {path}")
        rows, clip_text = feature_rows(client, info, images, pixels, labels, ink, indexed, queries, clip, args.pca_dim)
        random_baseline = float(np.mean([np.mean(labels[indexed] == label) for label in labels[queries]]))
        table(rows)
        print(f"random baseline (a random image has the query's label): precision@10 {random_baseline:.3f}")
        if clip_text:
            print(
                f"text → image (CLIP): precision@10 {clip_text['precision@10']:.3f} over {clip_text['queries']} "
                "sentences"
            )
        filtered = filter_section(client, pixels, labels, ink, queries)
        heading("3. A picture of the results")
        shown = np.array([queries[labels[queries] == digit][0] for digit in (0, 2, 3, 5, 8, 9)])  # six different digits
        grid = save_grid(images, labels, shown, search(client, PIXELS, pixels[shown], "L2"))
        print(f"saved {grid}")
        drop_if_exists(client, PIXELS, PCA, CLIP)

    precision = rows[0]["precision@10"]
    result = {
        "headline": f"label precision@10 {precision:.3f} (random {random_baseline:.3f}) "
        f"on {len(queries)} held-out digits",
        "engine": info.kind,
        "path": "clip" if clip else "pixels",
        "features": rows,
        "random_baseline": random_baseline,
        "filters": filtered,
        "text_to_image": clip_text,
        "grid_png": grid,
        "skipped": [] if clip else ["clip: IMAGE_MODEL is not set (optional CLIP path; pixel features ran)"],
    }
    save_json("step03_image_search", result)
    return result


# %%
if __name__ == "__main__":
    cli.run(main)
