# %% [markdown]
"""
A/B testing two search configurations: stable routing, a quality signal, and a decision you can defend.

What you learn
  - routing by a stable hash of the user id: a user always sees the same arm;
  - per-arm latency and a quality signal (recall@10 of each request against
    exact ground truth — in production: clicks or ratings);
  - deciding with statistics: the difference of means with a bootstrap 95%
    confidence interval, a permutation-test p-value, and the minimum sample
    size for the effect you care about — and refusing to declare a winner
    before that many requests.

Arms: A = HNSW ef=16 (fast), B = HNSW ef=64 (more accurate).

Prerequisites  Step 2, lesson 02
Run            python step05_production/04_ab_testing.py [--requests 1200] [--mde 0.03]
Docs           docs/step05_production.md, section "04 A/B 테스트"
"""

# %%
from __future__ import annotations

import hashlib
import math
import time

from common import cli, indexes
from common.data import exact_topk, make_dataset
from common.report import heading, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

PREFIX = "s5_l4_"
COLLECTION = PREFIX + "docs"
K = 10
# %% [markdown]
# ## Routing: a stable hash of the user id

# %%
# docs:begin route
ARMS = {"A": {"ef": 16}, "B": {"ef": 64}}
Z_ALPHA, Z_POWER = 1.959964, 0.841621  # two-sided α = 0.05, power 0.8


def arm_for(user: str) -> str:
    """Stable assignment: the same user id always hashes to the same arm."""
    return "A" if int(hashlib.sha256(user.encode()).hexdigest(), 16) % 2 == 0 else "B"


# docs:end


# %% [markdown]
# ## Statistics: sample size, bootstrap CI, permutation test


# %%
def required_per_arm(sd: float, mde: float) -> int:
    """Requests per arm to detect a difference of ``mde`` (normal approximation, α 0.05, power 0.8)."""
    return math.ceil(2 * (Z_ALPHA + Z_POWER) ** 2 * sd**2 / mde**2)


def compare(a: np.ndarray, b: np.ndarray, rng, resamples: int = 2000) -> dict:
    """Difference of means (B − A) with a bootstrap 95% CI and a permutation p-value."""
    diff = float(b.mean() - a.mean())
    boots = [rng.choice(b, len(b)).mean() - rng.choice(a, len(a)).mean() for _ in range(resamples)]
    low, high = np.percentile(boots, [2.5, 97.5])
    pooled = np.concatenate([a, b])
    extreme = 0
    for _ in range(resamples):
        rng.shuffle(pooled)
        extreme += abs(pooled[len(a) :].mean() - pooled[: len(a)].mean()) >= abs(diff)
    return {"diff": diff, "ci_low": float(low), "ci_high": float(high), "p_value": (extreme + 1) / (resamples + 1)}


def decide(result: dict, n_a: int, n_b: int, needed: int) -> str:
    if min(n_a, n_b) < needed:
        return f"not yet conclusive: {min(n_a, n_b)} requests in the smaller arm, {needed} needed"
    if result["ci_low"] > 0:
        return "B wins: its CI lies above 0"
    if result["ci_high"] < 0:
        return "A wins: its CI lies below 0"
    return "no significant difference: the CI includes 0 (keep the cheaper arm)"


# %% [markdown]
# ## The experiment


# %%
def run_experiment(client, data, truth, requests: int, rng) -> dict:
    users = [f"user-{i}" for i in range(max(50, requests // 4))]
    log = {"A": {"recall": [], "ms": []}, "B": {"recall": [], "ms": []}}
    for _ in range(requests):
        user = users[rng.integers(len(users))]
        arm = arm_for(user)
        q = int(rng.integers(len(data.queries)))
        start = time.perf_counter()
        hits = client.search(
            collection_name=COLLECTION,
            data=[data.queries[q].tolist()],
            limit=K,
            search_params={"params": ARMS[arm]},  # the arm decides the setting: ef 16 (A) or 64 (B)
            consistency_level="Bounded",
        )[0]
        log[arm]["ms"].append((time.perf_counter() - start) * 1000)
        log[arm]["recall"].append(len({h["id"] for h in hits} & set(truth[q].tolist())) / K)
    return {arm: {k: np.asarray(v) for k, v in values.items()} for arm, values in log.items()}


def summarise(log: dict, mde: float, rng) -> dict:
    a, b = log["A"]["recall"], log["B"]["recall"]
    sd = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)) if min(len(a), len(b)) > 1 else 1.0
    needed = required_per_arm(sd, mde)
    result = compare(a, b, rng)
    return {
        **result,
        "needed_per_arm": needed,
        "n_a": len(a),
        "n_b": len(b),
        "decision": decide(result, len(a), len(b), needed),
    }


def create_collection(client, info, vectors: np.ndarray) -> None:
    """One collection serves both arms: they differ only in the search parameters they send."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    drop_if_exists(client, COLLECTION)
    client.create_collection(collection_name=COLLECTION, schema=schema, consistency_level="Bounded")
    rows = vector_rows(vectors, id=range(len(vectors)))
    for start in range(0, len(rows), 5000):
        client.insert(collection_name=COLLECTION, data=rows[start : start + 5000])
    client.flush(collection_name=COLLECTION)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    client.create_index(collection_name=COLLECTION, index_params=index_params)
    client.load_collection(collection_name=COLLECTION)


# %% [markdown]
# ## Run the sections in order


# %%
def parse_args(argv):
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(1000, 2_000_000), default=20000)
    parser.add_argument("--dim", type=cli.DIM, default=128)
    parser.add_argument(
        "--requests",
        type=cli.int_range(100, 1_000_000),
        default=1200,
        help="requests in the full experiment (default 1200)",
    )
    parser.add_argument(
        "--peek", type=cli.int_range(10, 1_000_000), default=40, help="requests at the early peek (default 40)"
    )
    parser.add_argument(
        "--mde",
        type=cli.float_range(0.001, 1.0),
        default=0.03,
        help="smallest recall difference worth detecting (default 0.03)",
    )
    parser.add_argument("--seed", type=cli.SEED, default=12)
    return parser.parse_args(argv)


def print_full(log: dict, full: dict, mde: float) -> None:
    """Per-arm recall and latency, then the difference with its interval, p-value and needed sample size."""
    table(
        [
            {
                "arm": arm,
                "config": ARMS[arm],
                "requests": len(log[arm]["recall"]),
                "mean recall@10": float(log[arm]["recall"].mean()),
                "p50 ms": float(np.percentile(log[arm]["ms"], 50)),
                "p95 ms": float(np.percentile(log[arm]["ms"], 95)),
            }
            for arm in ARMS
        ]
    )
    table(
        [
            {
                "B − A recall": full["diff"],
                "95% CI": f"[{full['ci_low']:+.4f}, {full['ci_high']:+.4f}]",
                "p-value (permutation)": full["p_value"],
                f"needed per arm for Δ={mde}": full["needed_per_arm"],
            }
        ]
    )
    print(f"decision: {full['decision']}")


def main(argv=None) -> dict:
    args = parse_args(argv)
    data = make_dataset(args.n, args.dim, 500, n_clusters=100, spread=2.0, seed=args.seed)  # lesson 2.2's hard data
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
    rng = np.random.default_rng(args.seed)
    with cli.engine(args.uri) as (client, info):
        create_collection(client, info, data.base)

        heading("1. Routing: a stable hash of the user id")
        sample = [f"user-{i}" for i in range(10000)]
        share_b = sum(arm_for(u) == "B" for u in sample) / len(sample)
        stable = all(arm_for(u) == arm_for(u) for u in sample[:100])
        print(f"10,000 users → {1 - share_b:.1%} A / {share_b:.1%} B; the same user always gets the same arm: {stable}")

        heading(f"2. An early peek after {args.peek} requests")
        peek = summarise(run_experiment(client, data, truth, args.peek, rng), args.mde, rng)
        print(
            f"B − A recall {peek['diff']:+.3f}, 95% CI [{peek['ci_low']:+.3f}, {peek['ci_high']:+.3f}] → "
            f"{peek['decision']}"
        )

        heading(f"3. The full experiment: {args.requests} requests")
        log = run_experiment(client, data, truth, args.requests, rng)
        full = summarise(log, args.mde, rng)
        print_full(log, full, args.mde)
        drop_if_exists(client, COLLECTION)

    return {
        "headline": f"B − A recall {full['diff']:+.3f} [{full['ci_low']:+.3f}, {full['ci_high']:+.3f}]; "
        f"{full['decision'][:40]}",
        "engine": info.kind,
        "share_b": share_b,
        "stable_routing": stable,
        "peek": peek,
        "full": full,
        "mean_recall": {arm: float(log[arm]["recall"].mean()) for arm in ARMS},
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
