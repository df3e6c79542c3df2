# %% [markdown]
"""
Recommendation: learn item vectors from clicks, then ask Milvus for what a user has not seen.

What you learn
  - the two-tower idea without a deep model: implicit matrix factorisation
    (alternating least squares, Hu, Koren & Volinsky 2008) in NumPy turns a
    user × item click matrix into item vectors and user vectors; the dot
    product of the two predicts a click;
  - item vectors live in Milvus with their category; a user's vector is
    computed from their history at request time ("fold-in"), so a new click
    changes the next recommendation without retraining;
  - the two filters every recommender needs: exclude what the user already
    saw (``id not in [...]``) and restrict to a category;
  - evaluation on held-out clicks: hit@10 (was the user's hidden click in
    the ten recommendations?) against the popularity baseline (the ten most
    clicked items the user has not seen).

Data  users, items and clicks are generated with a hidden taste structure
      (each user likes one or two of 12 categories; some items are far more
      popular than others); one click per user is held out for the test.

Prerequisites  02_image_search.py
Run            python step03_use_cases/03_recommendation.py [--users 2000] [--items 1000] [--factors 32]
Docs           docs/step03_use_cases.md, section "03 추천"
"""

# %%
from __future__ import annotations

from common import cli, indexes
from common.metrics import Stopwatch, time_calls
from common.report import heading, save_json, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

ITEMS = "s3_l3_items"
K = 10


# %% [markdown]
# ## Clicks and item vectors (implicit ALS)


# %%
def generate_clicks(
    n_users: int, n_items: int, n_categories: int, rng
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Item categories, item popularity, and each user's clicked items (in click order)."""
    taste_dim = 16
    centres = rng.standard_normal((n_categories, taste_dim))
    category = rng.integers(0, n_categories, size=n_items)
    item_taste = centres[category] + 0.6 * rng.standard_normal((n_items, taste_dim))
    popularity = rng.pareto(1.5, size=n_items) + 1  # a long tail: a few items get most clicks
    clicks = []
    for _ in range(n_users):
        liked = rng.choice(n_categories, size=rng.integers(1, 3), replace=False)
        taste = centres[liked].mean(axis=0) + 0.3 * rng.standard_normal(taste_dim)
        logits = item_taste @ taste / 2 + np.log(popularity)
        p = np.exp(logits - logits.max())
        clicks.append(rng.choice(n_items, size=int(rng.integers(15, 40)), replace=False, p=p / p.sum()).tolist())
    return category, popularity, clicks


def split(clicks: list[list[int]], rng) -> tuple[list[list[int]], list[int]]:
    """Hold out one random click per user; the rest is training history."""
    train, test = [], []
    for items in clicks:
        held = int(rng.integers(len(items)))
        test.append(items[held])
        train.append(items[:held] + items[held + 1 :])
    return train, test


def fold_in(item_vectors: np.ndarray, history: list[int], alpha: float, reg: float) -> np.ndarray:
    """The ALS user vector for a history, given fixed item vectors:
    x = (YᵀY + α·Y_hᵀY_h + λI)⁻¹ · (1+α)·Σ_h y_h  (clicked items have confidence 1+α, the rest 1)."""
    Y, Yh = item_vectors, item_vectors[history]
    A = Y.T @ Y + alpha * Yh.T @ Yh + reg * np.eye(Y.shape[1])
    return np.linalg.solve(A, (1 + alpha) * Yh.sum(axis=0))


def implicit_als(
    train: list[list[int]], n_items: int, factors: int, iterations: int, alpha: float, reg: float, rng
) -> np.ndarray:
    """Item vectors from clicks: alternate solving for users and items, each a small least-squares problem."""
    users_of = [[] for _ in range(n_items)]
    for u, items in enumerate(train):
        for i in items:
            users_of[i].append(u)
    items = 0.1 * rng.standard_normal((n_items, factors))
    for _ in range(iterations):
        users = np.stack([fold_in(items, history, alpha, reg) for history in train])
        items = np.stack([fold_in(users, clickers, alpha, reg) for clickers in users_of])  # same formula, roles swapped
    return items.astype(np.float32)


# %% [markdown]
# ## Item vectors in Milvus


# %%
# docs:begin items
def index_items(client, info, vectors: np.ndarray, category: np.ndarray, popularity: np.ndarray) -> None:
    """Item vectors from the factorisation, with the category to filter on."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="category", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(field_name="popularity", datatype=DataType.FLOAT)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    index_params = MilvusClient.prepare_index_params()
    # Inner product: the score the factorisation was trained to predict (not cosine: the norm carries popularity)
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="IP",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    drop_if_exists(client, ITEMS)
    client.create_collection(
        collection_name=ITEMS, schema=schema, index_params=index_params, consistency_level="Bounded"
    )  # rows are flushed before load; no Strong wait per search
    client.insert(
        collection_name=ITEMS,
        data=vector_rows(
            vectors, id=range(len(vectors)), category=[f"c{c}" for c in category], popularity=popularity.tolist()
        ),
    )
    client.flush(collection_name=ITEMS)
    client.load_collection(collection_name=ITEMS)


def recommend(
    client,
    user_vector: np.ndarray,
    seen: list[int],
    category: str | None = None,
    limit: int = K,
    consistency: str = "Bounded",
) -> list[int]:
    """The top items for a user vector, never one the user has already clicked."""
    expr = f"id not in {sorted(seen)}"  # exclude the history inside the search, so K results remain
    if category:
        expr = f'category == "{category}" and {expr}'
    hits = client.search(
        collection_name=ITEMS,
        data=[user_vector.tolist()],
        anns_field="embedding",
        limit=limit,
        filter=expr,
        search_params={"metric_type": "IP", "params": {"ef": max(64, limit)}},
        consistency_level=consistency,
    )[0]  # "Strong" right after a write that must be seen
    return [h["id"] for h in hits]


# docs:end


# %% [markdown]
# ## Recommend unseen items per user


# %%
def popular_unseen(order: np.ndarray, seen: list[int], allowed=None) -> list[int]:
    seen_set = set(seen)
    return [int(i) for i in order if int(i) not in seen_set and (allowed is None or allowed[i])][:K]


def overall_section(client, user_vectors, train, test, by_popularity, n_items: int) -> dict:
    heading("2. Recommend 10 unseen items per user (fold-in user vector + `id not in [...]`)")
    recommended = [recommend(client, v, history) for v, history in zip(user_vectors, train)]
    popular = [popular_unseen(by_popularity, history) for history in train]
    seen_violations = sum(len(set(r) & set(h)) for r, h in zip(recommended, train))
    hit_mf = float(np.mean([t in r for t, r in zip(test, recommended)]))
    hit_pop = float(np.mean([t in p for t, p in zip(test, popular)]))
    coverage = len({i for r in recommended for i in r}) / n_items
    table(
        [
            {"recommender": "ALS vectors in Milvus", "hit@10": hit_mf, "share of catalogue shown": coverage},
            {
                "recommender": "popularity (unseen top 10)",
                "hit@10": hit_pop,
                "share of catalogue shown": len({i for p in popular for i in p}) / n_items,
            },
        ]
    )
    print(
        f"lift over popularity: {hit_mf / hit_pop:.2f}×; recommended items the user had already seen: {seen_violations}"
    )
    return {
        "hit@10": hit_mf,
        "popularity_hit@10": hit_pop,
        "lift": hit_mf / hit_pop if hit_pop else None,
        "seen_recommended": seen_violations,
        "recommended_lists": len(recommended),
        "short_lists": sum(len(r) < K for r in recommended),
        "coverage": coverage,
    }


# %% [markdown]
# ## Restricted to one category


# %%
def category_section(client, user_vectors, train, test, category, by_popularity) -> dict:
    heading("3. Same, restricted to one category (filter: category == ... and id not in [...])")
    users_in = [u for u, t in enumerate(test) if category[t] == category[test[0]]]
    name = f"c{category[test[0]]}"
    in_category = category == category[test[0]]
    cat_recs = {u: recommend(client, user_vectors[u], train[u], category=name) for u in users_in}
    only_category = all(category[i] == category[test[0]] for r in cat_recs.values() for i in r)
    cat_hit = float(np.mean([test[u] in cat_recs[u] for u in users_in]))
    cat_pop = float(np.mean([test[u] in popular_unseen(by_popularity, train[u], in_category) for u in users_in]))
    print(
        f"category {name}: {len(users_in)} users whose held-out click is in it; hit@10 {cat_hit:.3f} "
        f"vs popularity in the category {cat_pop:.3f}; every item in {name}: {only_category}"
    )
    if cat_pop > cat_hit:
        print(
            "Popularity wins here: inside one category tastes differ little and popularity a lot; blend the two "
            "scores (docs/step03_use_cases.md, 03)."
        )
    return {
        "name": name,
        "users": len(users_in),
        "hit@10": cat_hit,
        "popularity_hit@10": cat_pop,
        "only_that_category": only_category,
    }


# %% [markdown]
# ## Real-time update


# %%
# docs:begin live
def live_update(client, item_vectors, history: list[int], new_clicks: list[int], alpha: float, reg: float) -> dict:
    """A user clicks new items: fold the longer history in again and search again. No retraining, no re-indexing."""
    before = recommend(client, fold_in(item_vectors, history, alpha, reg), history, limit=50)
    after_history = history + new_clicks
    after = recommend(client, fold_in(item_vectors, after_history, alpha, reg), after_history, limit=50)
    return {"before": before, "after": after}  # the top 50 each time: the first 10 are what the user sees


def add_new_item(client, item_id: int, vector: np.ndarray, category: int) -> None:
    """A new item with no clicks yet: its vector comes from its content — here its category's mean direction.

    The collection reads with Bounded consistency: on a server a search right after this write may miss the
    item for a moment, so the next searches ask for consistency "Strong" (Milvus Lite shows writes at once)."""
    client.upsert(
        collection_name=ITEMS,
        data=[{"id": item_id, "embedding": vector.tolist(), "category": f"c{category}", "popularity": 0.0}],
    )


# docs:end


def live_update_section(client, item_vectors, train, category, by_popularity, args) -> dict:
    heading("4. Real-time update: a user clicks five items from a category new to them")
    user = int(np.argmin([len(history) for history in train]))  # a short history: each click weighs more
    tried = {int(category[i]) for i in train[user]}
    new_category = next(c for c in np.argsort(-np.bincount(category)) if int(c) not in tried)
    new_clicks = [int(i) for i in by_popularity if category[i] == new_category][:5]  # its five most popular items
    lists = live_update(client, item_vectors, train[user], new_clicks, args.alpha, args.reg)
    share = {k: float(np.mean([category[i] == new_category for i in v])) for k, v in lists.items()}
    changed = lists["before"][:K] != lists["after"][:K]
    print(
        f"user {user} ({len(train[user])} clicks): items of c{new_category} in the top 50 before: "
        f"{share['before']:.0%}, "
        f"after: {share['after']:.0%}; the top 10 changed: {changed}; a clicked item recommended back: "
        f"{bool(set(new_clicks) & set(lists['after']))}"
    )
    return {
        "changed": changed,
        "new_category_share": share,
        "clicked_recommended": bool(set(new_clicks) & set(lists["after"])),
    }


# %% [markdown]
# ## Cold start


# %%
def cold_start_section(client, item_vectors, user_vectors, train, test, category, by_popularity) -> dict:
    heading("5. Cold start: a user with no history, an item with no clicks")
    users = list(range(200))  # pretend these users just signed up: no history to fold in
    cold_hit = float(np.mean([test[u] in popular_unseen(by_popularity, []) for u in users]))
    warm_hit = float(np.mean([test[u] in recommend(client, user_vectors[u], train[u]) for u in users]))
    print(
        f"new users get the popular items (an empty history folds into a zero vector: every score would be 0): "
        f"hit@10 {cold_hit:.3f}; the same users with their history: {warm_hit:.3f}"
    )
    target = int(np.bincount(category).argmax())
    new_id = len(item_vectors)
    members = item_vectors[category == target]
    direction = members.mean(axis=0)
    # the direction says what the item is; the length (which carries popularity here) gets a typical member's
    add_new_item(
        client, new_id, direction / np.linalg.norm(direction) * np.median(np.linalg.norm(members, axis=1)), target
    )
    fans = [u for u, history in enumerate(train) if np.mean(category[history] == target) >= 0.5][:100]
    reached = sum(
        new_id in recommend(client, user_vectors[u], train[u], category=f"c{target}", consistency="Strong")
        for u in fans
    )
    print(
        f"a new item in c{target}, its vector its category's mean direction: in the top 10 of {reached} of "
        f"{len(fans)} users "
        "who mostly click that category (filtered to it) — reachable before anyone clicked it"
    )
    return {
        "new_user_popularity_hit@10": cold_hit,
        "same_users_with_history_hit@10": warm_hit,
        "new_item_reached_users": reached,
        "category_fans": len(fans),
    }


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--users", type=cli.int_range(10, 1_000_000), default=2000)
    parser.add_argument("--items", type=cli.int_range(20, 1_000_000), default=1000)
    parser.add_argument("--categories", type=cli.int_range(1, 1000), default=12)
    parser.add_argument("--factors", type=cli.int_range(1, 1024), default=32)
    parser.add_argument("--iterations", type=cli.int_range(1, 100), default=8)
    parser.add_argument(
        "--alpha", type=cli.float_range(0, 1e6), default=20.0, help="extra confidence of a click (default 20)"
    )
    parser.add_argument("--reg", type=cli.float_range(1e-6, 1e6), default=1.0, help="L2 regularisation λ (default 1)")
    parser.add_argument("--seed", type=cli.SEED, default=7)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    category, popularity, clicks = generate_clicks(args.users, args.items, args.categories, rng)
    train, test = split(clicks, rng)
    counts = np.bincount([i for items in train for i in items], minlength=args.items)
    by_popularity = np.argsort(-counts, kind="stable")

    with cli.engine(args.uri) as (client, info):
        heading(f"1. Learn item vectors: implicit ALS, {args.factors} factors, {args.iterations} iterations")
        with Stopwatch() as train_time:
            item_vectors = implicit_als(train, args.items, args.factors, args.iterations, args.alpha, args.reg, rng)
        print(
            f"{args.users} users × {args.items} items, {sum(map(len, train))} training clicks; trained in "
            f"{train_time.seconds:.1f} s"
        )
        index_items(client, info, item_vectors, category, popularity)

        user_vectors = [fold_in(item_vectors, history, args.alpha, args.reg) for history in train]
        overall = overall_section(client, user_vectors, train, test, by_popularity, args.items)
        in_category = category_section(client, user_vectors, train, test, category, by_popularity)
        live = live_update_section(client, item_vectors, train, category, by_popularity, args)
        cold = cold_start_section(client, item_vectors, user_vectors, train, test, category, by_popularity)
        latency = time_calls(lambda u: recommend(client, user_vectors[u], train[u]), list(range(200)), warmup=5)
        print(
            f"\nrecommendation latency (filtered search) over {latency.calls} users: p50 {latency.p50_ms:.1f} ms, "
            f"p95 {latency.p95_ms:.1f} ms"
        )
        drop_if_exists(client, ITEMS)

    hit_mf, hit_pop, seen = overall["hit@10"], overall["popularity_hit@10"], overall["seen_recommended"]
    result = {
        "headline": f"hit@10 {hit_mf:.3f} vs popularity {hit_pop:.3f} ({hit_mf / hit_pop:.1f}×), 0 seen items"
        if seen == 0
        else f"hit@10 {hit_mf:.3f}; {seen} seen items recommended",
        "engine": info.kind,
        "users": args.users,
        "items": args.items,
        **overall,
        "category": in_category,
        "live_update": live,
        "cold_start": cold,
        "train_seconds": train_time.seconds,
        "latency": latency.as_dict(),
    }
    save_json("step03_recommendation", result)
    return result


# %%
if __name__ == "__main__":
    cli.run(main)
