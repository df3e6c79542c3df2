"""Blue-green deployment: switch an alias to a new collection version under live query load.

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

from __future__ import annotations

import contextlib
import threading
import time

from common import cli
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.metrics import recall_at_k
from common.report import heading, table
from common.schemas import (
    count_rows,
    drop_if_exists,
    insert_batches,
    recreate_collection,
    search_ids,
    vector_index,
    vector_rows,
)

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s5_l3_"
ALIAS = PREFIX + "docs"
BLUE, GREEN = PREFIX + "docs_v1", PREFIX + "docs_v2"
K = 10


def build_version(client, name: str, vectors: np.ndarray, version: int) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("version", DataType.INT64)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    recreate_collection(client, name, schema)
    rows = vector_rows(vectors, id=range(len(vectors)), version=[version] * len(vectors))
    insert_batches(client, name, rows, batch=2000)
    client.create_index(name, vector_index("embedding", "HNSW", "COSINE"))
    client.load_collection(name)


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
                hits = self.client.search(ALIAS, [q], limit=K, output_fields=["version"], consistency_level="Bounded")[0]
                entry = (time.monotonic(), hits[0]["entity"]["version"] if hits else None, "")
            except Exception as exc:  # noqa: BLE001 - every failure is counted, that is the measurement
                entry = (time.monotonic(), None, type(exc).__name__)
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
    return {"queries": len(after), "versions": sorted(set(versions)), "last answer from the old version, ms after": (last_old - moment) * 1000}


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="concurrent query threads (default 2)")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds of load after each switch (default 1.5)")
    parser.add_argument("--min-recall", type=float, default=0.9, help="probe recall the new version must reach")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)

    old = make_dataset(args.n, args.dim, 100, n_clusters=40, spread=1.0, seed=args.seed)
    new = make_dataset(args.n, args.dim, 100, n_clusters=40, spread=1.0, seed=args.seed + 1)  # re-embedded corpus
    with cli.engine(args.uri) as (client, info):
        with quiet_pymilvus(), contextlib.suppress(MilvusException):
            client.drop_alias(ALIAS)  # left over from an interrupted run; a collection with an alias cannot be dropped
        drop_if_exists(client, BLUE, GREEN)
        build_version(client, BLUE, old.base, 1)
        client.create_alias(BLUE, ALIAS)
        print(f"alias {ALIAS!r} → {client.describe_alias(ALIAS)['collection_name']}")

        heading(f"1. Build and verify {GREEN} while {args.threads} threads query the alias")
        with QueryLoad(client, old.queries, args.threads) as load:
            build_version(client, GREEN, new.base, 2)
            rows_ok = count_rows(client, GREEN) == args.n
            truth, _ = exact_topk(new.base, new.queries, K, "COSINE")
            probe_recall = recall_at_k(search_ids(client, GREEN, new.queries, K), truth, K)
            verified = rows_ok and probe_recall >= args.min_recall
            table([{"check": f"row count == {args.n}", "ok": rows_ok},
                   {"check": f"probe recall@10 {probe_recall:.3f} ≥ {args.min_recall}", "ok": probe_recall >= args.min_recall}])
            if not verified:
                print("verification failed: the alias stays on the old version")
            switch_at = time.monotonic()
            if verified:
                client.alter_alias(GREEN, ALIAS)
            time.sleep(args.settle)

            heading("2. Roll back: the same operation, pointed back")
            rollback_at = time.monotonic()
            client.alter_alias(BLUE, ALIAS)
            time.sleep(args.settle)
        log = load.log

        failed = [err for _, _, err in log if err]
        before = [v for t, v, err in log if t < switch_at and not err]
        switch = served_after([e for e in log if e[0] < rollback_at], switch_at)
        rollback = served_after(log, rollback_at)
        table([
            {"phase": "before switch", "queries": len(before), "versions served": sorted(set(before)), "ms until all new": "-"},
            {"phase": "after switch to v2", "queries": switch["queries"], "versions served": switch["versions"],
             "ms until all new": switch["last answer from the old version, ms after"]},
            {"phase": "after rollback to v1", "queries": rollback["queries"], "versions served": rollback["versions"],
             "ms until all new": rollback["last answer from the old version, ms after"]},
        ])
        final_versions = {v for t, v, err in log if t >= rollback_at + args.settle / 2 and not err}
        after_switch_tail = {v for t, v, err in log if switch_at + args.settle / 2 <= t < rollback_at and not err}
        print(f"{len(log)} queries in all, {len(failed)} failed ({args.threads} threads, Bounded consistency)")
        client.drop_alias(ALIAS)
        drop_if_exists(client, BLUE, GREEN)

    return {
        "headline": f"{len(log)} queries during build/switch/rollback, {len(failed)} failed; "
                    f"new version served after {switch['last answer from the old version, ms after']:.0f} ms",
        "engine": info.kind,
        "queries": len(log),
        "failed": len(failed),
        "errors": sorted(set(failed)),
        "verified": verified,
        "probe_recall": probe_recall,
        "before_versions": sorted(set(before)),
        "after_switch_versions_settled": sorted(after_switch_tail),
        "after_rollback_versions_settled": sorted(final_versions),
        "switch_ms": switch["last answer from the old version, ms after"],
        "skipped": [],
    }


if __name__ == "__main__":
    cli.run(main)
