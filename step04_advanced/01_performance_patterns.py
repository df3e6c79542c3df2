# %% [markdown]
"""
Performance patterns, each measured against the naive way in the same run.

What you learn
  - one reused client vs a new connection per request (search latency);
  - insert throughput across batch sizes from 1 to 10,000 rows per call,
    and why the curve flattens (per-call overhead vs message size);
  - a query-result cache (LRU + TTL): hit ratio and speedup on a skewed
    workload — and the stale read you get when a write does not invalidate
    it, next to the correct version that does.

Results are ratios from one run; absolute times depend on the machine.

Prerequisites  Step 1
Run            python step04_advanced/01_performance_patterns.py [--requests 100] [--n 10000] [--row-by-row 300]
Docs           docs/step04_advanced.md, section "01 성능 패턴"
"""

# %%
from __future__ import annotations

import time
from collections import OrderedDict

from common import cli, indexes
from common.config import load_settings, resolve_uri
from common.connection import quiet_pymilvus
from common.data import make_dataset
from common.metrics import Stopwatch, time_calls
from common.report import heading, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

PREFIX = "s4_l1_"
SEARCH = PREFIX + "search"
INSERTS = PREFIX + "inserts"
K = 10


# %% [markdown]
# ## A query cache with a time-to-live, invalidated on writes


# %%
# docs:begin cache
class QueryCache:
    """An LRU cache of search results with a time-to-live, invalidated per collection on writes.

    Keys are (collection, query bytes, limit); ``invalidate(collection)`` drops
    every entry of that collection — call it after any upsert or delete.
    """

    def __init__(self, capacity: int = 1024, ttl_s: float = 60.0):
        self.capacity, self.ttl_s = capacity, ttl_s
        self.entries: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def get_or_search(
        self, client, collection: str, query: np.ndarray, limit: int, consistency: str = "Bounded"
    ) -> list[int]:
        key = (collection, np.asarray(query, dtype=np.float32).tobytes(), limit)
        entry = self.entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self.ttl_s:
            self.entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        hits = client.search(
            collection_name=collection, data=[np.asarray(query).tolist()], limit=limit, consistency_level=consistency
        )
        ids = [hit["id"] for hit in hits[0]]
        self.entries[key] = (time.monotonic(), ids)
        self.entries.move_to_end(key)
        if len(self.entries) > self.capacity:
            self.entries.popitem(last=False)  # evict the least recently used
        return ids

    def invalidate(self, collection: str) -> None:
        for key in [k for k in self.entries if k[0] == collection]:
            del self.entries[key]

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


# docs:end


# %% [markdown]
# ## Client reuse vs a new connection per request


# %%
def client_reuse(uri: str, token: str, queries: np.ndarray) -> dict:
    with quiet_pymilvus():
        shared = MilvusClient(uri=uri, token=token)
        try:
            reused = time_calls(
                lambda q: shared.search(SEARCH, [q], limit=K, consistency_level="Bounded"), queries.tolist(), warmup=3
            )
        finally:
            shared.close()

        def per_request(q):
            client = MilvusClient(uri=uri, token=token, dedicated=True)  # a real new connection
            try:
                client.search(SEARCH, [q], limit=K, consistency_level="Bounded")
            finally:
                client.close()

        fresh = time_calls(per_request, queries.tolist(), warmup=2)
    print(
        "All searches here use Bounded consistency, as a service would (Strong adds a time tick per search on a "
        "server).\n"
        "pymilvus 3 shares one gRPC channel among the MilvusClient objects made with the same URI and token (older\n"
        "clients made you size a connection pool); dedicated=True opts out, which is what 'new connection' measures."
    )
    table(
        [
            {"pattern": "one client, reused", "p50 ms": reused.p50_ms, "p95 ms": reused.p95_ms},
            {"pattern": "new connection per request", "p50 ms": fresh.p50_ms, "p95 ms": fresh.p95_ms},
        ]
    )
    return {
        "reuse_p50_ms": reused.p50_ms,
        "reconnect_p50_ms": fresh.p50_ms,
        "reuse_speedup": fresh.p50_ms / reused.p50_ms,
    }


# %% [markdown]
# ## Insert batch size and flush


# %%
def create(client, name: str, dim: int, with_index: bool) -> None:
    """An id + embedding collection; with_index=False leaves it unindexed (and unloaded) until create_index."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, name)
    client.create_collection(
        collection_name=name,
        schema=schema,
        consistency_level="Strong",
        index_params=index_params if with_index else None,
    )


def fill_then_index(client, info, vectors: np.ndarray) -> None:
    """Insert and flush everything first, then build the HNSW index once over sealed segments, then load."""
    create(client, SEARCH, vectors.shape[1], with_index=False)
    for start in range(0, len(vectors), 5000):
        client.insert(
            collection_name=SEARCH,
            data=vector_rows(vectors[start : start + 5000], id=range(start, min(start + 5000, len(vectors)))),
        )
    client.flush(collection_name=SEARCH)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    client.create_index(collection_name=SEARCH, index_params=index_params)
    client.load_collection(collection_name=SEARCH)


# docs:begin batch
def insert_in_batches(client, rows: list[dict], size: int) -> float:
    """One insert call per ``size`` rows; returns the seconds it took (no flush: we time the calls)."""
    with Stopwatch() as sw:
        for start in range(0, len(rows), size):
            client.insert(collection_name=INSERTS, data=rows[start : start + size])
    return sw.seconds


# docs:end


def flush_cost(client, vectors: np.ndarray, rows: int = 5000, batch: int = 500) -> dict:
    """The same inserts, with one flush at the end vs a flush after every batch (a common mistake)."""
    data = vector_rows(vectors[:rows], id=range(rows))
    seconds = {}
    for label, every_batch in (("flush once at the end", False), ("flush after every batch", True)):
        create(client, INSERTS, vectors.shape[1], with_index=True)
        with Stopwatch() as sw:
            for start in range(0, rows, batch):
                client.insert(collection_name=INSERTS, data=data[start : start + batch])
                if every_batch:
                    client.flush(collection_name=INSERTS)  # seals a tiny segment each time
            if not every_batch:
                client.flush(collection_name=INSERTS)
        seconds[label] = sw.seconds
    drop_if_exists(client, INSERTS)
    table([{"pattern": k, "seconds": v, "rows/s": rows / v} for k, v in seconds.items()])
    print(
        "A flush seals the growing segment: flushing per batch costs a round trip and, on a server, leaves many tiny\n"
        "segments for compaction to merge. Insert in batches, flush once (or let Milvus seal segments itself)."
    )
    return {"flush_once_s": seconds["flush once at the end"], "flush_each_s": seconds["flush after every batch"]}


def batch_sweep(client, vectors: np.ndarray, sizes: list[int], row_by_row_rows: int) -> list[dict]:
    rows = []
    for size in sizes:
        total = row_by_row_rows if size == 1 else min(len(vectors), max(size, 10_000))
        create(client, INSERTS, vectors.shape[1], with_index=True)
        seconds = insert_in_batches(client, vector_rows(vectors[:total], id=range(total)), size)
        rows.append(
            {
                "rows per call": size,
                "rows": total,
                "calls": -(-total // size),
                "seconds": seconds,
                "rows/s": total / seconds,
            }
        )
    drop_if_exists(client, INSERTS)
    return rows


# %% [markdown]
# ## The cache measured: speedup, and invalidation on write


# %%
def cache_demo(client, data, requests: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    popular = data.queries[:20]
    workload = popular[np.minimum(rng.zipf(1.5, size=requests) - 1, len(popular) - 1)]  # a few queries dominate
    plain = time_calls(
        lambda q: client.search(SEARCH, [q.tolist()], limit=K, consistency_level="Bounded"), list(workload), warmup=3
    )
    cache = QueryCache(capacity=256, ttl_s=300)
    cached = time_calls(lambda q: cache.get_or_search(client, SEARCH, q, K), list(workload))
    table(
        [
            {"path": "search every time", "mean ms": plain.mean_ms, "p50 ms": plain.p50_ms, "p95 ms": plain.p95_ms},
            {"path": "LRU+TTL cache", "mean ms": cached.mean_ms, "p50 ms": cached.p50_ms, "p95 ms": cached.p95_ms},
        ]
    )
    print(f"hit ratio {cache.hit_ratio:.2f} over {requests} requests ({len(popular)} distinct queries, Zipf-skewed)")

    # A write makes the cached answer wrong unless the cache is told.
    query = popular[0]
    before = cache.get_or_search(client, SEARCH, query, K)
    client.upsert(
        collection_name=SEARCH, data=[{"id": before[-1], "embedding": query.tolist()}]
    )  # now equals the query
    # Strong: this read waits until the upsert is visible (lesson 1.4)
    truth_after = [hit["id"] for hit in client.search(SEARCH, [query.tolist()], limit=K, consistency_level="Strong")[0]]
    stale = cache.get_or_search(client, SEARCH, query, K)  # no invalidation
    cache.invalidate(SEARCH)
    fresh = cache.get_or_search(client, SEARCH, query, K, consistency="Strong")
    table(
        [
            {"read after upsert": "cache, not invalidated", "top-1": stale[0], "matches Milvus": stale == truth_after},
            {
                "read after upsert": "cache, invalidated on write",
                "top-1": fresh[0],
                "matches Milvus": fresh == truth_after,
            },
        ]
    )
    return {
        "hit_ratio": cache.hit_ratio,
        "cache_speedup": plain.mean_ms / cached.mean_ms,
        "stale_without_invalidation": stale != truth_after,
        "fresh_with_invalidation": fresh == truth_after,
        "upserted_id_now_first": truth_after[0] == before[-1],
    }


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.ROWS, default=10000, help="rows in the search collection (default 10000)")
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument(
        "--requests", type=cli.int_range(20, 1_000_000), default=100, help="requests per pattern (default 100)"
    )
    cli.add_list_option(parser, "--sizes", cli.int_range(1, 100_000), [1, 10, 100, 1000, 10000], "insert batch sizes")
    parser.add_argument(
        "--row-by-row", type=cli.int_range(1, 100_000), default=300, help="rows inserted one per call (default 300)"
    )
    parser.add_argument("--seed", type=cli.SEED, default=5)
    args = parser.parse_args(argv)

    data = make_dataset(args.n, args.dim, args.requests, n_clusters=50, spread=1.0, seed=args.seed)
    uri = resolve_uri(args.uri) if args.uri else load_settings().milvus_uri
    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, SEARCH, INSERTS)
        fill_then_index(client, info, data.base)
        for q in data.queries[:20].tolist():  # warm up: the first searches also load index files
            client.search(SEARCH, [q], limit=K, consistency_level="Bounded")

        heading("1. Client reuse vs a new connection per request (search)")
        reuse = client_reuse(uri, load_settings().milvus_token, data.queries)

        heading("2. Insert batch size sweep")
        sweep = batch_sweep(client, data.base, args.sizes, args.row_by_row)
        table(sweep)
        best = max(sweep, key=lambda r: r["rows/s"])
        batch_speedup = best["rows/s"] / sweep[0]["rows/s"]
        print(
            f"best: {best['rows per call']} rows per call, {batch_speedup:.0f}× the rows/s of one row per call.\n"
            "Each call pays a fixed cost (RPC, validation, a log append); big batches spread it over many rows\n"
            "until the message size dominates — and a server caps one gRPC message (64 MB by default)."
        )
        flush = flush_cost(client, data.base)

        heading("3. Query cache: speedup, and invalidation on write")
        cache = cache_demo(client, data, args.requests, args.seed)
        drop_if_exists(client, SEARCH)

    return {
        "headline": f"reuse {reuse['reuse_speedup']:.1f}×; batch {batch_speedup:.0f}×; "
        f"cache {cache['cache_speedup']:.1f}× (hit {cache['hit_ratio']:.2f})",
        "engine": info.kind,
        **reuse,
        **flush,
        "batch_sweep": sweep,
        "batch_speedup": batch_speedup,
        "best_batch": best["rows per call"],
        **cache,
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
