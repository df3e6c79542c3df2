# %% [markdown]
"""
Blue-green deployment: switch an alias to a new collection version under live query load.

What you learn
  - applications search an *alias* (`s5_l3_docs`), never a versioned name;
  - the new version is built beside the old one, verified (row count, recall
    on a probe set against exact ground truth), and only then the alias is
    moved with `alter_alias` — one metadata operation;
  - measured under concurrent load: failed queries during the switch
    (target: zero), how soon answers come from the new version, and the
    rollback, which is the same operation pointed back.

Prerequisites  Step 2
Run            python step05_production/03_blue_green.py [--n 8000] [--threads 2]
Docs           docs/step05_production.md, section "03 블루-그린 배포"
"""

# %%
from __future__ import annotations

import contextlib
import threading
import time

from common import cli, indexes
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.metrics import recall_at_k
from common.report import heading, table
from common.rows import count_rows, drop_if_exists, search_ids, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s5_l3_"
ALIAS = PREFIX + "docs"
BLUE, GREEN = PREFIX + "docs_v1", PREFIX + "docs_v2"
K = 10


# %% [markdown]
# ## Two versions behind one alias


# %%
# docs:begin build
def build_version(client, info, name: str, vectors: np.ndarray, version: int) -> None:
    """One complete, versioned collection: insert everything, flush, index, load — before any traffic sees it."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="version", datatype=DataType.INT64)  # lets every answer say which version served it
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    drop_if_exists(client, name)
    client.create_collection(collection_name=name, schema=schema, consistency_level="Strong")
    rows = vector_rows(vectors, id=range(len(vectors)), version=[version] * len(vectors))
    for start in range(0, len(rows), 2000):
        client.insert(collection_name=name, data=rows[start : start + 2000])
    client.flush(collection_name=name)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    client.create_index(collection_name=name, index_params=index_params)
    client.load_collection(collection_name=name)


def search_through_alias(client, query: list[float]) -> list[dict]:
    """What the application does: it only ever names the alias."""
    return client.search(
        collection_name=ALIAS,
        data=[query],
        limit=K,
        output_fields=["version"],
        search_params={"metric_type": "COSINE", "params": {"ef": 64}},
        consistency_level="Bounded",
    )[0]


# docs:end


# %% [markdown]
# ## Queries running during the switch


# %%
class QueryLoad:
    """Threads that search through the alias until stopped, recording every answer."""

    def __init__(self, client, queries: np.ndarray, threads: int):
        self.client, self.queries, self.threads = client, queries.tolist(), threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.log: list[tuple[float, int | None, str]] = []  # (time, version served or None, error)

    def _worker(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not self.stop.is_set():
            q = self.queries[rng.integers(len(self.queries))]
            try:
                hits = search_through_alias(self.client, q)
                entry = (time.monotonic(), hits[0]["entity"]["version"] if hits else None, "")
            except Exception as exc:  # noqa: BLE001 - every failure is counted, that is the measurement
                reason = (getattr(exc, "message", None) or str(exc)).strip().splitlines()[:1]
                entry = (time.monotonic(), None, ": ".join([type(exc).__name__, *reason])[:160])
            with self.lock:
                self.log.append(entry)

    def __enter__(self) -> QueryLoad:
        self.workers = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=30)


def served_after(log, moment: float) -> dict:
    after = [(t, v) for t, v, err in log if t >= moment and not err]
    versions = [v for _, v in after]
    last_old = max((t for t, v in after if v != versions[-1]), default=moment) if versions else moment
    return {
        "queries": len(after),
        "versions": sorted(set(versions)),
        "last answer from the old version, ms after": (last_old - moment) * 1000,
    }


# %% [markdown]
# ## Verify before the switch


# %%
def verify_green(client, new, n: int, min_recall: float) -> tuple[bool, float]:
    """The new version must hold every row and reach the probe recall before it gets traffic."""
    rows_ok = count_rows(client, GREEN) == n
    truth, _ = exact_topk(new.base, new.queries, K, "COSINE")
    probe_recall = recall_at_k(search_ids(client, GREEN, new.queries, K), truth, K)
    table(
        [
            {"check": f"row count == {n}", "ok": rows_ok},
            {"check": f"probe recall@10 {probe_recall:.3f} ≥ {min_recall}", "ok": probe_recall >= min_recall},
        ]
    )
    if not (rows_ok and probe_recall >= min_recall):
        print("verification failed: the alias stays on the old version")
    return rows_ok and probe_recall >= min_recall, probe_recall


# %% [markdown]
# ## Switch, and roll back


# %%
# docs:begin switch
def switch_alias(client, target: str) -> None:
    """Point the alias at another collection: one metadata operation; searches never see a gap."""
    client.alter_alias(
        collection_name=target,  # the collection the alias moves to (switch or rollback)
        alias=ALIAS,  # must already exist (create_alias made it)
    )


# docs:end


def summarise(log, switch_at: float, rollback_at: float, settle: float) -> dict:
    """Which versions answered in each phase, and how long the old one kept answering after a switch."""
    failed = [err for _, _, err in log if err]
    before = [v for t, v, err in log if t < switch_at and not err]
    switch = served_after([e for e in log if e[0] < rollback_at], switch_at)
    rollback = served_after(log, rollback_at)
    table(
        [
            {
                "phase": "before switch",
                "queries": len(before),
                "versions served": sorted(set(before)),
                "ms until all new": "-",
            },
            {
                "phase": "after switch to v2",
                "queries": switch["queries"],
                "versions served": switch["versions"],
                "ms until all new": switch["last answer from the old version, ms after"],
            },
            {
                "phase": "after rollback to v1",
                "queries": rollback["queries"],
                "versions served": rollback["versions"],
                "ms until all new": rollback["last answer from the old version, ms after"],
            },
        ]
    )
    return {
        "failed": failed,
        "before": before,
        "switch": switch,
        "final": {v for t, v, err in log if t >= rollback_at + settle / 2 and not err},
        "after_switch_tail": {v for t, v, err in log if switch_at + settle / 2 <= t < rollback_at and not err},
    }


# %% [markdown]
# ## Run the sections in order


# %%
def parse_args(argv):
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(100, 2_000_000), default=8000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument("--threads", type=cli.int_range(1, 64), default=2, help="concurrent query threads (default 2)")
    parser.add_argument(
        "--settle", type=cli.float_range(0.1, 60), default=1.5, help="seconds of load after each switch (default 1.5)"
    )
    parser.add_argument(
        "--min-recall", type=cli.float_range(0, 1.0), default=0.9, help="probe recall the new version must reach"
    )
    parser.add_argument("--seed", type=cli.SEED, default=11)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    old = make_dataset(args.n, args.dim, 100, n_clusters=40, spread=1.0, seed=args.seed)
    new = make_dataset(args.n, args.dim, 100, n_clusters=40, spread=1.0, seed=args.seed + 1)  # re-embedded corpus
    with cli.engine(args.uri) as (client, info):
        with quiet_pymilvus(), contextlib.suppress(MilvusException):
            client.drop_alias(ALIAS)  # left over from an interrupted run; a collection with an alias cannot be dropped
        drop_if_exists(client, BLUE, GREEN)
        build_version(client, info, BLUE, old.base, 1)
        # docs:begin alias
        client.create_alias(
            collection_name=BLUE,  # the versioned collection the alias points at now
            alias=ALIAS,  # the stable name applications search; unique across collections
        )
        # docs:end
        print(f"alias {ALIAS!r} → {client.describe_alias(ALIAS)['collection_name']}")

        heading(f"1. Build and verify {GREEN} while {args.threads} threads query the alias")
        with QueryLoad(client, old.queries, args.threads) as load:
            build_version(client, info, GREEN, new.base, 2)
            verified, probe_recall = verify_green(client, new, args.n, args.min_recall)
            switch_at = time.monotonic()
            if verified:
                switch_alias(client, GREEN)
            time.sleep(args.settle)
            heading("2. Roll back: the same operation, pointed back")
            rollback_at = time.monotonic()
            switch_alias(client, BLUE)
            time.sleep(args.settle)
        log = load.log

        timeline = summarise(log, switch_at, rollback_at, args.settle)
        print(
            f"{len(log)} queries in all, {len(timeline['failed'])} failed ({args.threads} threads, Bounded consistency)"
        )
        client.drop_alias(ALIAS)
        drop_if_exists(client, BLUE, GREEN)

    return {
        "headline": f"{len(log)} queries during build/switch/rollback, {len(timeline['failed'])} failed; "
        f"new version served after {timeline['switch']['last answer from the old version, ms after']:.0f} ms",
        "engine": info.kind,
        "queries": len(log),
        "failed": len(timeline["failed"]),
        "errors": sorted(set(timeline["failed"])),
        "verified": verified,
        "probe_recall": probe_recall,
        "before_versions": sorted(set(timeline["before"])),
        "after_switch_versions_settled": sorted(timeline["after_switch_tail"]),
        "after_rollback_versions_settled": sorted(timeline["final"]),
        "switch_ms": timeline["switch"]["last answer from the old version, ms after"],
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
