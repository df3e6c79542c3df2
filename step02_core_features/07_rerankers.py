# %% [markdown]
"""
Rerankers beyond plain fusion: decay, boost, a Function Chain and weighted RRF, each checked with NumPy.

What you learn
  - the decay ranker (Milvus 2.6): score x a gauss/exp/linear factor of a numeric field (here the age
    of an article), so fresh rows climb; the factor computed here from the documented formula, and
    the engine's order compared with NumPy's over the same rows;
  - the boost ranker (Milvus 2.6.2): rows that pass a filter get their score multiplied by a weight;
  - a Function Chain (Milvus 3.0): map -> sort -> limit steps written out, reordering only the hits the
    search returned (so how many it fetches matters);
  - RRF fusing two views (lesson 04) against NumPy's sum of 1/(k + rank), and weighted RRF (Milvus 3.0.1:
    ``"weights"`` in the rrf ranker's params) where the engine applies it, a named skip elsewhere;
  - how far each ranker moves the ranking away from plain vector similarity — and that model rankers and
    embedding functions call a provider over the network, so they need a key and are not called here.

Prerequisites  04_filtered_and_hybrid
Run            python step02_core_features/07_rerankers.py [--n 5000] [--queries 20]
Docs           docs/step02_core_features.md, section "07 리랭커: decay, boost, Function Chain"
"""

# %%
from __future__ import annotations

from common import cli
from common.connection import quiet_pymilvus
from common.data import make_dataset
from common.report import heading, table
from common.rows import drop_if_exists

import numpy as np
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker
from pymilvus.exceptions import MilvusException
from pymilvus.function_chain import FunctionChain, FunctionChainStage, col, fn

PREFIX = "s2_l7_"
NEWS = PREFIX + "news"
K = 10
SCALE_DAYS = 30  # the decay reaches DECAY at 30 days old
DECAY = 0.5
BOOST_WEIGHT = 1.5
RRF_K = 60
WEIGHTS = [0.7, 0.3]  # weighted RRF: the first view (embedding) counts more than the second


# %% [markdown]
# ## The news collection, the rankers and the reranked search


# %%
# docs:begin news
def create_news(client, dim: int) -> None:
    """Articles with an age in days and an editor's pick flag; FLAT so NumPy can reproduce every score."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="age_days", datatype=DataType.INT64)  # the decay ranker's input
    schema.add_field(field_name="pick", datatype=DataType.BOOL)  # the boost ranker's filter
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, NEWS)
    client.create_collection(collection_name=NEWS, schema=schema, index_params=index_params, consistency_level="Strong")


def decay_ranker() -> Function:
    """The decay ranker: final score = similarity x factor(age_days)."""
    return Function(
        name="freshness",
        input_field_names=["age_days"],  # one numeric (or TIMESTAMPTZ) field
        function_type=FunctionType.RERANK,  # a ranker, not an embedding function
        params={
            "reranker": "decay",
            "function": "gauss",  # the curve: gauss, exp or linear
            "origin": 0,  # the ideal value: published today
            "offset": 0,  # no decay within offset of the origin
            "scale": SCALE_DAYS,  # at origin ± (offset + scale) the factor is ...
            "decay": DECAY,  # ... this value
        },
    )


def boost_ranker() -> Function:
    """The boost ranker: rows passing ``filter`` get score x weight."""
    return Function(
        name="editors_pick",
        input_field_names=[],  # a boost reads no field directly: its filter does
        function_type=FunctionType.RERANK,
        params={"reranker": "boost", "filter": "pick == true", "weight": BOOST_WEIGHT},
    )


def freshness_chain() -> FunctionChain:
    """The same decay written as a Function Chain: map a factor, multiply it in, sort, keep K."""
    return (
        FunctionChain(FunctionChainStage.L2_RERANK, name="fresh_first")  # runs after the search's top-k
        .map("fresh", fn.decay(col("age_days"), function="gauss", origin=0, scale=SCALE_DAYS, decay=DECAY))
        .map("$score", fn.num_combine(col("$score"), col("fresh"), mode="multiply"))  # $score: the similarity
        .sort(col("$score"), desc=True)
        .limit(K)
    )


def reranked(client, query, fetch: int = K, **rerank) -> list[tuple[int, float]]:
    """One search, reranked by ``ranker=`` (decay, boost) or ``function_chains=`` (a chain)."""
    hits = client.search(
        collection_name=NEWS,
        data=[query],
        anns_field="embedding",
        limit=fetch,  # a chain reorders only these hits
        search_params={"metric_type": "COSINE"},
        **rerank,  # ranker=decay_ranker() / boost_ranker(), or function_chains=freshness_chain()
    )[0]
    return [(hit["id"], hit["distance"]) for hit in hits]


# docs:end


# %% [markdown]
# ## The same reranking in NumPy


# %%
def gauss_factor(age: np.ndarray) -> np.ndarray:
    """The documented gauss decay: exp(-d² / (2σ²)) with σ² = -scale² / (2·ln decay), d = max(0, |x-origin|-offset)."""
    d = np.maximum(0.0, np.abs(age.astype(np.float64)) - 0)
    sigma_sq = -(SCALE_DAYS**2) / (2 * np.log(DECAY))
    return np.exp(-(d**2) / (2 * sigma_sq))


def numpy_order(sims: np.ndarray, factor: np.ndarray, window: int) -> list[int]:
    """Rerank the ``window`` most similar rows by sims x factor, as the ranker documents, and keep K."""
    candidates = np.argsort(-sims, kind="stable")[:window]
    scores = sims[candidates] * factor[candidates]
    return [int(i) for i in candidates[np.argsort(-scores, kind="stable")][:K]]


def same_order(engine: list[tuple[int, float]], expected: list[int], sims, factor) -> dict:
    """Top-K agreement, and the largest gap between the engine's score and NumPy's for the rows it returned."""
    ids = [i for i, _ in engine]
    gaps = [abs(score - sims[i] * factor[i]) for i, score in engine]
    return {"same order": ids == expected, "overlap": len(set(ids) & set(expected)) / K, "max score gap": max(gaps)}


# %% [markdown]
# ## Each ranker against NumPy


# %%
def load_news(client, data, age, pick) -> None:
    create_news(client, data.base.shape[1])
    rows = [
        {"id": i, "age_days": int(age[i]), "pick": bool(pick[i]), "embedding": v.tolist()}
        for i, v in enumerate(data.base)
    ]
    for start in range(0, len(rows), 2000):
        client.insert(collection_name=NEWS, data=rows[start : start + 2000])
    client.flush(collection_name=NEWS)
    client.load_collection(collection_name=NEWS)


def run_ranker(client, info, name: str, queries, sims_all, factors: dict) -> dict:
    """Run one ranker over every query and compare with NumPy; a named skip where the engine lacks it."""
    capability, rerank, fetch, window, factor = {
        "decay": ("decay_ranker", {"ranker": decay_ranker()}, K, 10 * K, factors["decay"]),
        "boost": ("boost_ranker", {"ranker": boost_ranker()}, K, 10 * K, factors["boost"]),
        "chain (fetch 10)": ("function_chain", {"function_chains": freshness_chain()}, K, K, factors["decay"]),
        "chain (fetch 100)": (
            "function_chain",
            {"function_chains": freshness_chain()},
            10 * K,
            10 * K,
            factors["decay"],
        ),
    }[name]
    if not info.has(capability):
        return {"ranker": name, "skipped": info.skip_reason(capability)}
    try:
        with quiet_pymilvus():
            found = [reranked(client, q.tolist(), fetch, **rerank)[:K] for q in queries]
    except MilvusException as exc:
        return {"ranker": name, "refused": info.refusal(exc)}
    checks = [same_order(f, numpy_order(s, factor, window), s, factor) for f, s in zip(found, sims_all)]
    plain = [list(np.argsort(-s)[:K]) for s in sims_all]
    if info.assumed and not all(c["same order"] for c in checks):  # accepted, then not applied (2.3 does that)
        return {"ranker": name, "refused": info.not_honoured(f"{capability}: the order is plain similarity")}
    return {
        "ranker": name,
        "NumPy window": window,
        "same order as NumPy": float(np.mean([c["same order"] for c in checks])),
        "same as all-row rerank": float(
            np.mean([[i for i, _ in f] == numpy_order(s, factor, len(s)) for f, s in zip(found, sims_all)])
        ),
        "top-10 overlap": float(np.mean([c["overlap"] for c in checks])),
        "max score gap": float(max(c["max score gap"] for c in checks)),
        "moved vs plain": float(np.mean([len(set(i for i, _ in f) - set(p)) / K for f, p in zip(found, plain)])),
        "mean age top-10": float(np.mean([factors["age"][[i for i, _ in f]].mean() for f in found])),
    }


# %% [markdown]
# ## RRF and weighted RRF over two views


# %%
def create_two_views(client, base, other, age) -> None:
    """The same articles with a second vector field, for a hybrid search fused by RRF."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=base.shape[1])
    schema.add_field(field_name="summary_vec", datatype=DataType.FLOAT_VECTOR, dim=base.shape[1])
    index_params = MilvusClient.prepare_index_params()
    for name in ("embedding", "summary_vec"):
        index_params.add_index(field_name=name, index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, NEWS)
    client.create_collection(collection_name=NEWS, schema=schema, index_params=index_params, consistency_level="Strong")
    rows = [{"id": i, "embedding": v.tolist(), "summary_vec": o.tolist()} for i, (v, o) in enumerate(zip(base, other))]
    for start in range(0, len(rows), 2000):
        client.insert(collection_name=NEWS, data=rows[start : start + 2000])
    client.flush(collection_name=NEWS)
    client.load_collection(collection_name=NEWS)


# docs:begin fusion
def weighted_rrf(weights: list[float]) -> Function:
    """RRF with one weight per search request: score = sum_i weights[i] / (k + rank_i) (Milvus 3.0.1)."""
    return Function(
        name="weighted_rrf",
        input_field_names=[],  # RRF reads ranks, not a field
        function_type=FunctionType.RERANK,
        params={"reranker": "rrf", "k": RRF_K, "weights": weights},  # one weight in [0, 1] per request, in order
    )


def fused(client, query, ranker) -> list[tuple[int, float]]:
    """A hybrid search over both views, fused by ``ranker`` (RRFRanker(60) or the weighted_rrf Function)."""
    reqs = [
        AnnSearchRequest(data=[query], anns_field=field, param={"metric_type": "COSINE"}, limit=K)
        for field in ("embedding", "summary_vec")  # the order the weights follow
    ]
    hits = client.hybrid_search(collection_name=NEWS, reqs=reqs, ranker=ranker, limit=K)[0]
    return [(hit["id"], hit["distance"]) for hit in hits]


# docs:end


def numpy_rrf(views: list[np.ndarray], weights: list[float]) -> dict[int, float]:
    """RRF over each view's exact top-K (FLAT): sum of weight / (k + rank), rank counted from 1."""
    scores: dict[int, float] = {}
    for sims, weight in zip(views, weights):
        for rank, i in enumerate(np.argsort(-sims, kind="stable")[:K], start=1):
            scores[int(i)] = scores.get(int(i), 0.0) + weight / (RRF_K + rank)
    return scores


def rrf_agrees(found: list[tuple[int, float]], scores: dict[int, float]) -> tuple[bool, float]:
    """The engine's scores are NumPy's top-K scores, in order (ties may swap ids), and each id's own score."""
    best = sorted(scores.values(), reverse=True)[:K]
    gaps = [abs(score - scores.get(i, 0.0)) for i, score in found]
    same = len(found) == len(best) and np.allclose([s for _, s in found], best, atol=1e-6)
    return bool(same and max(gaps) < 1e-6), float(max(gaps))


def rrf_effect(client, info, data, other, sims_all, age) -> list[dict]:
    """RRF fuses two views by rank only: it ignores age. Weighted RRF (3.0.1) tilts the fusion to one view."""
    names = ("RRF (2 views)", f"weighted RRF {WEIGHTS[0]}/{WEIGHTS[1]}")
    if not info.has("hybrid_search"):
        return [{"ranker": name, "skipped": info.skip_reason("hybrid_search")} for name in names]
    views = [(q, s, q @ other.T) for q, s in zip(data.queries, sims_all)]
    with quiet_pymilvus():
        try:
            create_two_views(client, data.base, other, age)
            plain_rrf = [fused(client, q.tolist(), RRFRanker(RRF_K)) for q, _, _ in views]
        except MilvusException as exc:
            drop_if_exists(client, NEWS)
            return [{"ranker": name, "refused": info.refusal(exc)} for name in names]
        try:
            weighted, refusal = [fused(client, q.tolist(), weighted_rrf(WEIGHTS)) for q, _, _ in views], None
        except MilvusException as exc:
            weighted, refusal = None, exc
    rows = [fusion_row(names[0], plain_rrf, [numpy_rrf([a, b], [1.0, 1.0]) for _, a, b in views], sims_all, age)]
    if refusal is not None:
        said = refusal.message.strip().splitlines()[0][:120]
        rows.append(
            {"ranker": names[1], "refused": info.refusal(refusal)}
            if info.has("weighted_rrf")
            else {"ranker": names[1], "skipped": info.skip_reason("weighted_rrf"), "engine says": said}
        )
        return rows
    row = fusion_row(names[1], weighted, [numpy_rrf([a, b], WEIGHTS) for _, a, b in views], sims_all, age)
    if row["same order as NumPy"] < 1.0:  # accepted: were the weights applied, or is it plain RRF?
        unweighted = np.mean([rrf_agrees(f, numpy_rrf([a, b], [1.0, 1.0]))[0] for f, (_, a, b) in zip(weighted, views)])
        said = "accepted; the scores are unweighted RRF's" if unweighted == 1.0 else "accepted; scores differ"
        if info.has("weighted_rrf"):
            row = {"ranker": names[1], "refused": info.not_honoured(f"weighted_rrf: {said}")} if info.assumed else row
        else:
            row = {"ranker": names[1], "skipped": info.skip_reason("weighted_rrf"), "engine says": said}
    rows.append(row)
    return rows


def fusion_row(name: str, found, expected, sims_all, age) -> dict:
    agree = [rrf_agrees(f, e) for f, e in zip(found, expected)]
    plain = [set(np.argsort(-s)[:K]) for s in sims_all]
    ids = [[i for i, _ in f] for f in found]
    return {
        "ranker": name,
        "same order as NumPy": float(np.mean([a for a, _ in agree])),
        "max score gap": max(g for _, g in agree),
        "moved vs plain": float(np.mean([len(set(f) - p) / K for f, p in zip(ids, plain)])),
        "mean age top-10": float(np.mean([age[f].mean() for f in ids])),
    }


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(500, 200_000), default=5000)
    parser.add_argument("--dim", type=cli.DIM, default=32)
    parser.add_argument("--queries", type=cli.int_range(1, 1000), default=20)
    parser.add_argument("--seed", type=cli.SEED, default=7)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    data = make_dataset(args.n, args.dim, args.queries, n_clusters=20, spread=1.0, seed=args.seed)
    age = rng.integers(0, 365, size=args.n)
    pick = rng.random(args.n) < 0.1
    other = data.base[rng.permutation(args.n)]
    sims_all = data.queries @ data.base.T  # unit vectors: COSINE = inner product
    factors = {"decay": gauss_factor(age), "boost": np.where(pick, BOOST_WEIGHT, 1.0), "age": age}
    with cli.engine(args.uri) as (client, info):
        load_news(client, data, age, pick)
        heading("1. Decay, boost, Function Chain and RRF, each against NumPy over the same rows")
        rows = [
            run_ranker(client, info, name, data.queries, sims_all, factors)
            for name in ("decay", "boost", "chain (fetch 10)", "chain (fetch 100)")
        ]
        rows += rrf_effect(client, info, data, other, sims_all, age)
        table(
            [
                {k: v for k, v in r.items() if k not in ("skipped", "refused", "engine says")}
                | {"note": r.get("skipped") or r.get("refused", "")}
                for r in rows
            ]
        )
        for r in rows:
            if "engine says" in r:
                print(f"{r['ranker']}, sent anyway: {r['engine says']}")
        drop_if_exists(client, NEWS)
    heading("2. Model rankers and embedding functions")
    model_note = (
        "not called: a model ranker (Cohere, Voyage, TEI, vLLM ...) and an embedding function send text "
        "to a provider, which needs its endpoint and an API key"
    )
    print(model_note)
    by_name = {r["ranker"]: r for r in rows}
    plain_age = float(np.mean([age[np.argsort(-s)[:K]].mean() for s in sims_all]))
    skipped = [f"{r['ranker']}: {r['skipped']}" for r in rows if "skipped" in r]
    refused = [f"{r['ranker']}: {r['refused']}" for r in rows if "refused" in r]
    decay_row = by_name["decay"]
    headline = (
        f"decay: mean age of top-10 {decay_row['mean age top-10']:.0f} d vs {plain_age:.0f} d plain; "
        f"same order as NumPy {decay_row['same order as NumPy']:.2f}"
        if "same order as NumPy" in decay_row
        else (decay_row.get("skipped") or decay_row.get("refused"))
    )
    return {
        "headline": headline,
        "engine": info.kind,
        "rankers": by_name,
        "plain mean age": plain_age,
        "model_rankers": model_note,
        "skipped": skipped,
        "refused": refused,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
