"""Where answers run: a process of their own per exercise, against an engine the grader owns.

The grader measures in its own process; the learner's function runs in a child (course/grading/child.py)
that cannot reach into the grader's memory to fake a figure. On Milvus Lite, whose database file admits one
process, the grader serves a temporary database of its own over gRPC (``python -m milvus_lite server``, as
lesson 4.4 serves its consumers) and both processes reach it at that address; the learner's course database
is never opened. On a server, both reach the server under test.

Each call has a time limit; an answer that loops, exits (``sys.exit``, ``os._exit``) or is killed is a
failure with its own message, and the child (with anything it started) never outlives the grader.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common import processes
from common.config import REPO_ROOT, is_lite_uri, load_settings, resolve_uri
from common.connection import connect, quiet_pymilvus
from common.engine import EngineInfo, detect

from pymilvus import CollectionSchema, DataType, MilvusClient

CHILD = Path(__file__).with_name("child.py")
LITE_START_S = 30
CHILD_START_S = 60  # Python, numpy and pymilvus loading in the answer's process, on a busy machine


class AnswerFailed(Exception):
    """The answer did not return a value: it raised, exited, looped or was killed (the message says which)."""


@dataclass
class Engine:
    client: MilvusClient  # the grader's own client: it measures
    info: EngineInfo
    uri: str  # what the answers' processes connect to
    token: str
    label: str  # what the banner prints
    forbidden: tuple[str, ...]  # folders an answer may not open


@contextlib.contextmanager
def engine(uri: str | None) -> Iterator[Engine]:
    """The engine answers are graded on: a private Lite server for a Lite URI, else the server at the URI."""
    settings = load_settings()
    target = resolve_uri(uri) if uri else settings.milvus_uri
    course_db = Path(target) if is_lite_uri(target) else REPO_ROOT / ".milvus"
    with tempfile.TemporaryDirectory(prefix="course-grader-") as tmp, quiet_pymilvus():
        server = None
        try:
            if is_lite_uri(target):
                port = processes.free_port()
                server = processes.start(
                    [sys.executable, "-m", "milvus_lite", "server", "--data-dir", f"{tmp}/db"]
                    + ["--host", "127.0.0.1", "--port", str(port)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, "GRPC_VERBOSITY": "NONE"},
                )
                processes.wait_for_port(port, server, LITE_START_S, "the grader's Milvus Lite server")
                served, label = f"http://127.0.0.1:{port}", f"a temporary database served at 127.0.0.1:{port}"
            else:
                served, label = target, target
            client = connect(served, settings=settings)
            try:
                info = detect(client, served)
                forbidden = (str(course_db), f"{tmp}/db", str(REPO_ROOT / ".milvus"))
                yield Engine(client, info, served, settings.milvus_token or "", label, forbidden)
            finally:
                with contextlib.suppress(Exception):
                    client.close()
        finally:
            processes.stop(server, timeout=5)


# ---- values that come back from the answer's process ---------------------------------------------------


@dataclass(frozen=True)
class Opaque:
    """A returned object the grader cannot use (its type and repr)."""

    type: str
    text: str


@dataclass(frozen=True)
class Schema:
    """A CollectionSchema the answer returned, as its to_dict()."""

    fields: dict

    def collection_schema(self) -> CollectionSchema:
        """The schema rebuilt in the grader's process (defaults arrive as plain values: child.schema_dict)."""
        described = dict(self.fields)
        described["fields"] = [{**f, "type": DataType(f["type"])} for f in described.get("fields", [])]
        return CollectionSchema.construct_from_dict(described)


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind, inner = value.get("$t"), value.get("v")
    if kind in ("tuple",):
        return tuple(decode(v) for v in inner)
    if kind in ("set", "frozenset"):
        items = [decode(v) for v in inner]
        with contextlib.suppress(TypeError):
            return set(items)
        return Opaque(kind, repr(items)[:80])
    if kind == "dict":
        with contextlib.suppress(TypeError):
            return {decode(k): decode(v) for k, v in inner}
    if kind and kind.startswith("numpy.") and kind != "numpy.ndarray":
        return inner  # a numpy scalar means the same number
    if kind == "numpy.ndarray":
        return decode(inner)
    if kind == "CollectionSchema":
        return Schema(inner)
    if kind == "Path":
        return Path(inner)
    return Opaque(kind or "object", str(inner))


# ---- one answer's process --------------------------------------------------------------------------


class Answer:
    """The learner's file loaded in a process of its own; ``call`` runs its function there with a time limit."""

    def __init__(
        self,
        engine: Engine,
        file: Path,
        function: str,
        settings: dict | None = None,
        hash_seed: str = "",
        connect: bool = True,
    ):
        self.file, self.function = file, function
        self.home = tempfile.mkdtemp(prefix="course-answer-")
        self.calls: list[dict] = []  # every client call the answer made, in order
        to_child, self._requests = os.pipe()
        self._replies, from_child = os.pipe()
        self.output = open(Path(self.home).parent / f"{Path(self.home).name}.log", "w+", encoding="utf-8")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "TMPDIR": self.home,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "GRPC_VERBOSITY": "NONE",
            "PYTHONHASHSEED": hash_seed or "random",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "GRADER_SETTINGS": json.dumps({**(settings or {}), "forbidden": list(engine.forbidden)}),
        }
        if connect:
            env.update(MILVUS_URI=engine.uri, MILVUS_TOKEN=engine.token)
        self.process = processes.start(
            [sys.executable, str(CHILD), str(to_child), str(from_child)],
            pass_fds=(to_child, from_child),
            cwd=self.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=self.output,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer, self.closed, self._printed = b"", False, []

    def load(self, timeout: float) -> None:
        self._reply(CHILD_START_S, "starting the answer's process")  # not counted against the answer
        self._ask({"op": "load", "file": str(self.file), "function": self.function}, timeout, "loading the file")

    def call(self, *args, timeout: float = 20.0):
        """Call the answer's function with ``args`` (CLIENT stands for the graded client); its return value."""
        return decode(self._ask({"op": "call", "args": list(args)}, timeout, f"{self.function}()"))

    def map(self, args_list: list[list], timeout: float = 30.0) -> list:
        return decode(self._ask({"op": "map", "args_list": args_list}, timeout, f"{self.function}()"))

    def _ask(self, request: dict, timeout: float, what: str):
        try:
            os.write(self._requests, (json.dumps(request) + "\n").encode())
        except OSError:
            raise AnswerFailed(self._ended(what)) from None
        reply = self._reply(timeout, what)
        self.calls.extend(reply.get("calls", []))
        if reply.get("ok"):
            return reply.get("value")
        if "exit" in reply:
            raise AnswerFailed(f"{what} called sys.exit({reply['exit']}): an answer must return, not end its process")
        where = f" ({reply['where']})" if reply.get("where") else ""
        raise AnswerFailed(f"{what} raised {reply['error']}: {reply['message']}{where}")

    def _reply(self, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise AnswerFailed(f"{what} did not return within {timeout:g} s (stopped)")
            ready, _, _ = select.select([self._replies], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise AnswerFailed(self._ended(what))
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _ended(self, what: str) -> str:
        code = self.process.wait(timeout=5)
        if code < 0:
            import signal

            return f"the answer's process was killed by {signal.Signals(-code).name} during {what}"
        return f"the answer's process ended (exit status {code}) during {what}, without returning"

    def printed(self, lines: int = 3) -> list[str]:
        """The first lines the answer printed (its own output, for the note under the table)."""
        if self.closed:
            return self._printed[:lines]
        self.output.flush()
        self.output.seek(0)
        return [line.rstrip() for line in self.output.readlines()[:lines]]

    def close(self) -> None:
        if self.closed:
            return
        stop = self.process.poll() is None
        processes.stop(self.process, timeout=0.5 if stop else 0)
        self._printed = self.printed(10)
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self._requests)
        processes.stop(self.process, timeout=2)
        with contextlib.suppress(OSError):
            os.close(self._replies)
        self.output.close()
        with contextlib.suppress(OSError):
            os.unlink(self.output.name)
        import shutil

        shutil.rmtree(self.home, ignore_errors=True)


CLIENT = {"$client": True}


def path_argument(path: Path) -> dict:
    return {"$path": str(path)}
