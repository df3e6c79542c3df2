# %% [markdown]
"""
Filtered and hybrid search: scalar filters, JSON/ARRAY, range, group-by, multi-vector, BM25.

What you learn
  - vector search with a scalar filter at 50%, 10% and 1% selectivity, with
    recall measured against *filtered* exact ground truth;
  - JSON-path and ARRAY_CONTAINS filters, checked against the data;
  - range search: every returned score lies inside the range, and how many
    of the rows truly in range it found;
  - group-by search: one hit per group, verified (an engine that ignores the
    parameter is caught);
  - multi-vector hybrid search fused with RRFRanker and WeightedRanker,
    compared with an exact NumPy fusion; BM25 full text, alone and fused
    with dense vectors;
  - what a malformed filter expression says.

Prerequisites  03_partitions
Run            python step02_core_features/04_filtered_and_hybrid.py [--n 20000] [--dim 64]
Docs           docs/step02_core_features.md, section "04 필터와 하이브리드 검색"
"""

# %%
from __future__ import annotations

from common import cli, indexes
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.metrics import recall_at_k, time_calls
from common.report import heading, table
from common.rows import drop_if_exists, search_ids, vector_rows

import numpy as np
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker, WeightedRanker
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l4_"
PRODUCTS = PREFIX + "products"
TWO_VECTORS = PREFIX + "two_vectors"
ARTICLES = PREFIX + "articles"
K = 10
BRANDS = ["acme", "globex", "initech", "umbrella", "hooli"]
TAGS = ["sale", "new", "eco", "premium", "bundle"]
WORDS = [  # a small vocabulary per topic, so BM25 has something real to match
    ["vector", "index", "search", "embedding", "recall", "cluster"],
    ["river", "mountain", "forest", "valley", "lake", "trail"],
    ["bread", "butter", "oven", "flour", "yeast", "crust"],
    ["guitar", "melody", "rhythm", "chord", "tempo", "song"],
]


# %% [markdown]
# ## Filtered search


# %%
# docs:begin products
def create_products(client, dim: int) -> None:
    """Scalar fields to filter on: an INT64 bucket, a VARCHAR, a JSON object and an ARRAY of strings."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="bucket", datatype=DataType.INT64)  # 0..99: `bucket < 10` keeps 10% of rows
    schema.add_field(field_name="category", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(field_name="meta", datatype=DataType.JSON)  # {"brand": ..., "rating": ...}
    schema.add_field(
        field_name="tags", datatype=DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=16
    )
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    drop_if_exists(client, PRODUCTS)
    client.create_collection(collection_name=PRODUCTS, schema=schema, consistency_level="Strong")


def filtered_search(client, queries: list, expr: str, ef: int) -> list:
    """Vector search restricted to the rows that pass a boolean expression on scalar fields."""
    return client.search(
        collection_name=PRODUCTS,
        data=queries,
        anns_field="embedding",
        limit=K,
        filter=expr,  # e.g. "bucket < 10", 'meta["brand"] == "acme"', 'ARRAY_CONTAINS(tags, "eco")'
        search_params={"metric_type": "COSINE", "params": {"ef": ef}},
        consistency_level="Bounded",
    )


# docs:end


# %% [markdown]
# ## Filtered recall against exact ground truth


# %%
def make_products(n: int, rng) -> dict:
    return {
        "bucket": rng.integers(0, 100, size=n),
        "category": [f"c{i}" for i in rng.integers(0, 8, size=n)],
        "brand": [BRANDS[i] for i in rng.integers(0, len(BRANDS), size=n)],
        "rating": np.round(rng.uniform(1, 5, size=n), 1),
        "tags": [list(rng.choice(TAGS, size=rng.integers(1, 3), replace=False)) for _ in range(n)],
    }


def filtered_recall(client, data, cols, queries, ef: int) -> list[dict]:
    rows = []
    for label, limit_bucket in (("50%", 50), ("10%", 10), ("1%", 1)):
        mask = cols["bucket"] < limit_bucket
        allowed = np.flatnonzero(mask)
        truth_local, _ = exact_topk(data.base[allowed], queries, K, "COSINE")
        truth = allowed[truth_local]  # exact top-k among the rows the filter allows
        expr = f"bucket < {limit_bucket}"
        params = {"metric_type": "COSINE", "params": {"ef": ef}}
        recall = recall_at_k(search_ids(client, PRODUCTS, queries, K, filter=expr, search_params=params), truth, K)
        latency = time_calls(lambda q, e=expr: filtered_search(client, [q], e, ef), queries[:40].tolist(), warmup=3)
        rows.append(
            {
                "filter": expr,
                "selectivity": label,
                "rows passing": int(mask.sum()),
                "recall@10": recall,
                "p50 ms": latency.p50_ms,
                "p95 ms": latency.p95_ms,
            }
        )
    return rows


# %% [markdown]
# ## JSON-path and ARRAY filters


# %%
def json_and_array(client, cols) -> list[dict]:
    checks = []
    cases = [
        (
            'meta["brand"] == "acme" and meta["rating"] >= 4.5',
            {i for i, (b, r) in enumerate(zip(cols["brand"], cols["rating"])) if b == "acme" and r >= 4.5},
        ),
        ('ARRAY_CONTAINS(tags, "eco")', {i for i, t in enumerate(cols["tags"]) if "eco" in t}),
        (
            'ARRAY_CONTAINS_ANY(tags, ["sale", "bundle"]) and category == "c3"',
            {
                i
                for i, (t, c) in enumerate(zip(cols["tags"], cols["category"]))
                if ({"sale", "bundle"} & set(t)) and c == "c3"
            },
        ),
    ]
    for expr, expected in cases:
        got = {
            row["id"] for row in client.query(collection_name=PRODUCTS, filter=expr, output_fields=["id"], limit=16384)
        }
        checks.append(
            {"filter": expr, "matched": len(got), "expected (NumPy)": len(expected), "same ids": got == expected}
        )
    return checks


# %% [markdown]
# ## Range search


# %%
def range_bounds(data, queries) -> tuple[float, float]:
    """A range that holds some neighbours but not the closest: between the 5th and 50th exact scores."""
    _, scores = exact_topk(data.base, queries, 50, "COSINE")
    return round(float(np.median(scores[:, 49])), 3), round(float(np.median(scores[:, 4])), 3)


# docs:begin range
def search_in_range(client, queries: list, radius: float, ceiling: float) -> list:
    """Every hit whose score lies in a band, up to ``limit`` per query."""
    return client.search(
        collection_name=PRODUCTS,
        data=queries,
        anns_field="embedding",
        limit=100,
        search_params={
            "metric_type": "COSINE",
            "params": {
                "radius": radius,  # the outer bound: COSINE keeps scores > radius (L2 keeps distances < radius)
                "range_filter": ceiling,  # the inner bound: drops hits that are too close (score > ceiling)
                "ef": 200,  # HNSW still needs enough candidates to find the band
            },
        },
    )


# docs:end


def range_search(client, data, queries, radius: float, ceiling: float) -> dict:
    found = search_in_range(client, queries[:20].tolist(), radius, ceiling)
    scores = [h["distance"] for hits in found for h in hits]
    inside = all(radius < s <= ceiling + 1e-6 for s in scores)
    sims = queries[:20] @ data.base.T
    in_range = [set(np.flatnonzero((row > radius) & (row <= ceiling)).tolist()) for row in sims]
    found_sets = [{h["id"] for h in hits} for hits in found]
    coverage = np.mean([len(f & t) / min(len(t), 100) if t else 1.0 for f, t in zip(found_sets, in_range)])
    return {
        "hits": len(scores),
        "all inside range": inside,
        "share of true in-range rows found": float(coverage),
        "min score": min(scores) if scores else None,
        "max score": max(scores) if scores else None,
    }


# %% [markdown]
# ## Group-by search


# %%
def group_by(client, info, queries) -> dict:
    if not info.has("group_by"):
        return {"skipped": info.skip_reason("group_by")}
    hits = client.search(
        collection_name=PRODUCTS,
        data=[queries[0].tolist()],
        limit=5,
        output_fields=["category"],
        group_by_field="category",
    )[0]  # at most one hit per category value
    groups = [h["entity"]["category"] for h in hits]
    if len(set(groups)) < len(groups) and info.assumed:  # accepted, then ignored (the 2.3 server does that)
        return {
            "refused": info.not_honoured(
                f"group_by_field returned {len(groups)} hits from {len(set(groups))} categories"
            )
        }
    return {"categories": groups, "distinct": len(set(groups)) == len(groups)}


# %% [markdown]
# ## Multi-vector hybrid search (RRF and weighted)


# %%
# docs:begin hybrid
def create_two_vectors(client, title_vectors, body_vectors) -> None:
    """Two vector fields per row, each with its own index (FLAT: exact, so NumPy can check the fusion)."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="title_vec", datatype=DataType.FLOAT_VECTOR, dim=title_vectors.shape[1])
    schema.add_field(field_name="body_vec", datatype=DataType.FLOAT_VECTOR, dim=body_vectors.shape[1])
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="title_vec", index_type="FLAT", metric_type="COSINE")
    index_params.add_index(field_name="body_vec", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, TWO_VECTORS)
    client.create_collection(
        collection_name=TWO_VECTORS, schema=schema, index_params=index_params, consistency_level="Strong"
    )
    client.insert(
        collection_name=TWO_VECTORS,
        data=[
            {"id": i, "title_vec": t.tolist(), "body_vec": b.tolist()}
            for i, (t, b) in enumerate(zip(title_vectors, body_vectors))
        ],
    )
    client.flush(collection_name=TWO_VECTORS)


def hybrid_top(client, query, ranker) -> list[int]:
    """One search per vector field, fused into one ranking by ``ranker``."""
    requests = [
        AnnSearchRequest(
            data=[query],  # the query vector(s) for this field
            anns_field="title_vec",  # which vector field this request searches
            param={"metric_type": "COSINE"},  # search params, as search_params in search()
            limit=K,  # candidates this request contributes to the fusion
        ),
        AnnSearchRequest(data=[query], anns_field="body_vec", param={"metric_type": "COSINE"}, limit=K),
    ]
    hits = client.hybrid_search(
        collection_name=TWO_VECTORS,
        reqs=requests,  # one AnnSearchRequest per vector field
        ranker=ranker,  # RRFRanker(k): Σ 1/(k + rank); WeightedRanker(w1, w2): Σ w·normalised score
        limit=K,  # final top-k after fusion
    )[0]
    return [hit["id"] for hit in hits]


# docs:end


def exact_fusion(title, body, label: str) -> list[list[int]]:
    """The same fusion in NumPy from the exact per-field top-k lists."""
    (title_ids, title_scores), (body_ids, body_scores) = title, body
    fused = []
    for i in range(len(title_ids)):
        score: dict[int, float] = {}
        for ids, scores, weight in ((title_ids[i], title_scores[i], 0.7), (body_ids[i], body_scores[i], 0.3)):
            for rank, (doc, sim) in enumerate(zip(ids, scores), 1):
                # RRF: sum of 1/(k + rank); Weighted: weight · score normalised to [0, 1] ((1+cos)/2 for COSINE)
                add = 1 / (60 + rank) if label.startswith("RRF") else weight * (1 + sim) / 2
                score[int(doc)] = score.get(int(doc), 0.0) + add
        fused.append(sorted(score, key=lambda d: -score[d])[:K])
    return fused


def hybrid(client, info, data, rng, queries) -> dict:
    """Fuse the two searches with RRF and with weights; compare with the exact fusion."""
    if not info.has("hybrid_search"):
        return {"skipped": info.skip_reason("hybrid_search")}
    other = data.base[rng.permutation(len(data.base))]  # a second, unrelated view of each row
    create_two_vectors(client, data.base, other)
    q = queries[:20]
    title, body = exact_topk(data.base, q, K, "COSINE"), exact_topk(other, q, K, "COSINE")
    results = {}
    for label, ranker in (("RRF (k=60)", RRFRanker(60)), ("Weighted 0.7/0.3", WeightedRanker(0.7, 0.3))):
        found = [hybrid_top(client, q[i].tolist(), ranker) for i in range(len(q))]
        results[label] = recall_at_k(found, exact_fusion(title, body, label), K)
    drop_if_exists(client, TWO_VECTORS)
    return {"agreement with exact fusion": results}


# %% [markdown]
# ## BM25 full-text search


# %%
# docs:begin bm25
def create_articles(client, dim: int) -> None:
    """A text field analysed into terms; a BM25 function fills a sparse vector field from it on insert."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(
        field_name="text", datatype=DataType.VARCHAR, max_length=512, enable_analyzer=True
    )  # split into terms (the standard analyzer by default)
    schema.add_field(field_name="sparse", datatype=DataType.SPARSE_FLOAT_VECTOR)  # written by the function
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,  # term statistics → a sparse vector per row
            input_field_names=["text"],  # rows carry only the text ...
            output_field_names=["sparse"],  # ... Milvus computes this field
        )
    )
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, ARTICLES)
    client.create_collection(
        collection_name=ARTICLES, schema=schema, index_params=index_params, consistency_level="Strong"
    )


def keyword_search(client, text: str) -> list[dict]:
    """Full-text search: the query is plain text; Milvus turns it into terms and scores with BM25."""
    return client.search(
        collection_name=ARTICLES,
        data=[text],
        anns_field="sparse",
        limit=K,
        output_fields=["text"],
        search_params={"metric_type": "BM25"},
    )[0]


# docs:end


def bm25(client, info, data, rng) -> dict:
    if not info.has("bm25"):
        return {"skipped": info.skip_reason("bm25")}
    n = min(len(data.base), 4000)
    topics = rng.integers(0, len(WORDS), size=n)
    texts = [
        " ".join(rng.choice(WORDS[t], size=6)) + " " + " ".join(rng.choice(sum(WORDS, []), size=3)) for t in topics
    ]
    create_articles(client, data.base.shape[1])
    client.insert(
        collection_name=ARTICLES,
        data=[{"id": i, "text": texts[i], "embedding": data.base[i].tolist()} for i in range(n)],
    )
    client.flush(collection_name=ARTICLES)
    query = "oven yeast crust"
    hits = keyword_search(client, query)
    every_hit_has_a_term = all(set(query.split()) & set(h["entity"]["text"].split()) for h in hits)
    table([{"bm25 score": h["distance"], "text": h["entity"]["text"]} for h in hits[:3]])
    reqs = [
        AnnSearchRequest(data=[query], anns_field="sparse", param={"metric_type": "BM25"}, limit=K),
        AnnSearchRequest(
            data=[data.base[0].tolist()], anns_field="embedding", param={"metric_type": "COSINE"}, limit=K
        ),
    ]
    fused = client.hybrid_search(collection_name=ARTICLES, reqs=reqs, ranker=RRFRanker(60), limit=K)[0]
    drop_if_exists(client, ARTICLES)
    return {
        "query": query,
        "hits": len(hits),
        "every hit has a query term": every_hit_has_a_term,
        "fused with dense (RRF)": len(fused),
    }


# %% [markdown]
# ## A malformed filter


# %%
def bad_filter(client) -> str:
    with quiet_pymilvus():
        try:
            client.query(collection_name=PRODUCTS, filter='category = "c1"', limit=1)
            return "accepted (unexpected)"
        except MilvusException as exc:
            return exc.message.strip().splitlines()[0][:120]


# %% [markdown]
# ## The sections


# %%
def load_products(client, info, data, cols, n: int) -> None:
    create_products(client, data.base.shape[1])
    rows = vector_rows(
        data.base,
        id=range(n),
        bucket=cols["bucket"].tolist(),
        category=cols["category"],
        meta=[{"brand": b, "rating": float(r)} for b, r in zip(cols["brand"], cols["rating"])],
        tags=cols["tags"],
    )
    for start in range(0, n, 5000):
        client.insert(collection_name=PRODUCTS, data=rows[start : start + 5000])
    client.flush(collection_name=PRODUCTS)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    client.create_index(collection_name=PRODUCTS, index_params=index_params)
    client.load_collection(collection_name=PRODUCTS)


def scalar_sections(client, info, data, cols, ef: int) -> dict:
    heading("1. Filtered search: recall against filtered exact ground truth")
    filtered = filtered_recall(client, data, cols, data.queries, ef)
    table(filtered)
    heading("2. JSON-path and ARRAY filters, checked against NumPy")
    json_checks = json_and_array(client, cols)
    table(json_checks)
    radius, ceiling = range_bounds(data, data.queries[:20])
    heading(f"3. Range search (COSINE: {radius} < score <= {ceiling})")
    ranged = range_search(client, data, data.queries, radius, ceiling)
    table([ranged])
    heading("4. Group-by search: best hit per category")
    grouped = group_by(client, info, data.queries)
    print(
        grouped.get("skipped")
        or grouped.get("refused")
        or f"categories of the 5 hits: {grouped['categories']}; distinct: {grouped['distinct']}"
    )
    return {"filtered": filtered, "json_array": json_checks, "range": ranged, "group_by": grouped}


def refused_or(client, info, collection: str, section) -> dict:
    """Run a section; when an engine described as newer than it is refuses it, report that by name."""
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would also log a traceback
            return section()
    except MilvusException as exc:
        drop_if_exists(client, collection)
        return {"refused": info.refusal(exc)}


def multi_vector_sections(client, info, data, rng) -> dict:
    heading("5. Multi-vector hybrid search (RRF and weighted)")
    fused = refused_or(client, info, TWO_VECTORS, lambda: hybrid(client, info, data, rng, data.queries))
    print(
        fused.get("skipped")
        or fused.get("refused")
        or "\n".join(
            f"{k}: top-{K} agreement with exact NumPy fusion {v:.3f}"
            for k, v in fused["agreement with exact fusion"].items()
        )
    )
    heading("6. BM25 full-text search (+ dense, fused with RRF)")
    text = refused_or(client, info, ARTICLES, lambda: bm25(client, info, data, rng))
    print(
        text.get("skipped")
        or text.get("refused")
        or f"query {text['query']!r}: {text['hits']} hits, every hit contains a query term: "
        f"{text['every hit has a query term']}; fused with dense: {text['fused with dense (RRF)']} hits"
    )
    return {"hybrid": fused, "bm25": text}


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(1000, 2_000_000), default=20000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument("--queries", type=cli.int_range(20, 100_000), default=100)
    parser.add_argument(
        "--ef", type=cli.int_range(10, 32_768), default=128, help="HNSW ef for filtered search (default 128)"
    )
    parser.add_argument("--seed", type=cli.SEED, default=3)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    data = make_dataset(args.n, args.dim, args.queries, n_clusters=60, spread=1.0, seed=args.seed)
    cols = make_products(args.n, rng)
    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, PRODUCTS, TWO_VECTORS, ARTICLES)
        load_products(client, info, data, cols, args.n)
        results = scalar_sections(client, info, data, cols, args.ef)
        results.update(multi_vector_sections(client, info, data, rng))
        heading("7. A malformed filter")
        message = bad_filter(client)
        print(f"filter 'category = \"c1\"' → {message}")
        drop_if_exists(client, PRODUCTS)

    skipped = [
        f"{section}: {results[section]['skipped']}"
        for section in ("group_by", "hybrid", "bm25")
        if "skipped" in results[section]
    ]
    refused = [
        f"{section}: {results[section]['refused']}"
        for section in ("group_by", "hybrid", "bm25")
        if "refused" in results[section]
    ]
    return {
        "headline": "filtered recall@10 "
        + " / ".join(f"{r['recall@10']:.3f}" for r in results["filtered"])
        + " at 50/10/1%",
        "engine": info.kind,
        **results,
        "bad_filter": message,
        "skipped": skipped,
        "refused": refused,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
