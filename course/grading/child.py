"""The process an answer runs in: it loads the learner's file, calls the function the grader asks for, and
sends back what it returned. It measures nothing: the grader measures in its own process.

Run by course.grading.sandbox as a script (not ``-m``), so the answer's ``sys.path`` does not hold the
course's packages. Requests arrive as JSON lines on the file descriptor in argv[1]; replies go to the one
in argv[2]; the answer's own prints go to a log the grader reads. Before the answer's module is loaded,
an audit hook refuses what an answer must not do here: write outside its temp folder, read the course's
databases, start processes, load native code.

The client the answer receives is the real ``MilvusClient`` (connected to the grader's sandbox engine),
behind a proxy that writes each call down and enforces what a Milvus server does where Milvus Lite is
lenient: a search whose metric differs from the index's is refused, and an insert of a key already stored
is counted as the second row a server keeps.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import traceback
from pathlib import Path

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
PATH_EVENTS = {
    "os.remove",
    "os.rmdir",
    "os.rename",
    "os.truncate",
    "os.chmod",
    "os.chown",
    "os.mkdir",
    "os.symlink",
    "os.link",
    "os.utime",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copyfile",
    "shutil.copytree",
}
PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"}
NATIVE_EVENTS = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function"}


class Refused(PermissionError):
    """What the sandbox does not let an answer do."""


def sandbox(allowed: Path, forbidden: list[Path]) -> None:
    """An audit hook (it cannot be removed once added) that confines the answer's file system writes."""
    allowed = allowed.resolve()
    forbidden = [p.resolve() for p in forbidden]

    def inside(path, root: Path) -> bool:
        try:
            return Path(os.path.abspath(os.fsdecode(path))).resolve().is_relative_to(root)
        except (TypeError, ValueError, OSError):
            return False

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path, mode, flags = (list(args) + [None, None])[:3]
            if any(inside(path, root) for root in forbidden):
                raise Refused(f"the grader's sandbox does not let an answer open {os.fsdecode(path)}")
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing and not inside(path, allowed):
                raise Refused(f"the grader's sandbox lets an answer write only in its temp folder, not {path}")
        elif event in PATH_EVENTS:
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and not inside(path, allowed):
                    raise Refused(f"the grader's sandbox lets an answer change files only in its temp folder ({event})")
        elif event in PROCESS_EVENTS:
            raise Refused("the grader's sandbox does not let an answer start processes")
        elif event in NATIVE_EVENTS:
            raise Refused("the grader's sandbox does not let an answer load native code")

    sys.addaudithook(hook)


# ---- the client the answer gets -----------------------------------------------------------------------


class MetricMismatch(Exception):
    """Raised where a Milvus server refuses a search whose metric_type is not the index's."""


def call_arguments(method, args: tuple, kwargs: dict) -> dict:
    import inspect

    try:
        bound = inspect.signature(method).bind_partial(*args, **kwargs)
    except TypeError:
        return dict(kwargs)
    named = dict(bound.arguments)
    named.update(named.pop("kwargs", {}) or {})
    return named


def grader_client(client, settings: dict, log: list):
    """A proxy that forwards to ``client``, writes each call down and applies a server's rules on Lite."""
    metrics: dict[tuple, str | None] = {}
    primary: dict[str, str] = {}

    def index_metric(collection: str, field: str | None) -> str | None:
        key = (collection, field)
        if key not in metrics:
            names = client.list_indexes(collection_name=collection, field_name=field or "")
            found = None
            for name in names:
                described = client.describe_index(collection_name=collection, index_name=name)
                if field in (None, described.get("field_name")):
                    found = described.get("metric_type")
                    break
            metrics[key] = found
        return metrics[key]

    def key_field(collection: str) -> str:
        if collection not in primary:
            fields = client.describe_collection(collection_name=collection)["fields"]
            primary[collection] = next(f["name"] for f in fields if f.get("is_primary"))
        return primary[collection]

    def before(name: str, named: dict) -> dict:
        entry: dict = {"method": name, "collection": named.get("collection_name")}
        data = named.get("data")
        if name in ("insert", "upsert", "delete") and isinstance(data, (list, dict)):
            entry["rows"] = len(data) if isinstance(data, list) else 1
        if name in ("search", "query", "delete", "search_iterator", "query_iterator"):
            entry["filter"] = named.get("filter") or named.get("expr") or ""
        if name == "search":
            params = named.get("search_params") or {}
            asked = params.get("metric_type") if isinstance(params, dict) else None
            entry.update(limit=named.get("limit"), metric=asked, nq=len(data) if isinstance(data, list) else None)
            if asked and settings.get("enforce_metric"):
                have = index_metric(named.get("collection_name"), named.get("anns_field"))
                if have and str(asked).upper() != str(have).upper():
                    entry["refused"] = f"metric {asked} on an index built for {have}"
                    log.append(entry)
                    raise MetricMismatch(
                        f"metric type not match: the index is {have}, the search asked for {asked} "
                        "(a Milvus server refuses this search; Milvus Lite would have answered it)"
                    )
        if name == "insert" and settings.get("count_insert_duplicates") and isinstance(data, list) and data:
            field = key_field(named.get("collection_name"))
            keys = [row.get(field) for row in data if isinstance(row, dict)]
            stored = client.query(
                collection_name=named.get("collection_name"),
                filter=f"{field} in {json.dumps(keys)}",
                output_fields=[field],
                consistency_level="Strong",
            )
            entry["duplicate_rows"] = len(stored) + len(keys) - len(set(keys))
        return entry

    class GraderClient:
        __slots__ = ()

        def __getattr__(self, name: str):
            target = getattr(client, name)
            if not callable(target) or name.startswith("_"):
                return target

            def call(*args, **kwargs):
                entry = before(name, call_arguments(target, args, kwargs))
                log.append(entry)
                return target(*args, **kwargs)

            return call

        def __repr__(self) -> str:
            return "<MilvusClient (graded)>"

    return GraderClient()


# ---- values sent back -------------------------------------------------------------------------------


def encode(value, depth: int = 0):
    """JSON for what the answer returned, keeping the types the grader checks (tuple, set, numpy scalars)."""
    if depth > 6:
        return {"$t": type(value).__name__, "v": repr(value)[:80]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, (tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return {"$t": type(value).__name__, "v": [encode(v, depth + 1) for v in items]}
    if isinstance(value, dict):
        return {"$t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    module = type(value).__module__
    if module == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return {"$t": "numpy." + type(value).__name__, "v": value.item()}
    if module == "numpy" and hasattr(value, "tolist"):
        return {"$t": "numpy.ndarray", "v": encode(value.tolist(), depth + 1)}
    if type(value).__name__ == "CollectionSchema" and hasattr(value, "to_dict"):
        return {"$t": "CollectionSchema", "v": schema_dict(value)}
    if isinstance(value, os.PathLike):
        return {"$t": "Path", "v": os.fspath(value)}
    return {"$t": type(value).__name__, "v": repr(value)[:80]}


def schema_dict(schema) -> dict:
    """A CollectionSchema's to_dict() as plain JSON. pymilvus puts a field's default_value there as a protobuf
    ValueField (``long_data: 0``); it goes as the plain value it holds, which FieldSchema.construct_from_dict
    takes back (it infers the ValueField from the value and the field's type)."""
    described = schema.to_dict()
    for field in described.get("fields", []):
        default = field.get("default_value")
        if hasattr(default, "WhichOneof"):
            which = default.WhichOneof("data")
            field["default_value"] = getattr(default, which) if which else None
    return json.loads(json.dumps(described, default=int))


def decode_argument(value, client):
    if isinstance(value, dict) and "$client" in value:
        return client
    if isinstance(value, dict) and "$path" in value:
        return Path(value["$path"])
    return value


# ---- the loop ---------------------------------------------------------------------------------------


def connect(settings: dict):
    log: list = []
    client = None
    if os.environ.get("MILVUS_URI"):  # connected before the sandbox closes
        from pymilvus import MilvusClient

        real = MilvusClient(uri=os.environ["MILVUS_URI"], token=os.environ.get("MILVUS_TOKEN", ""))
        client = grader_client(real, settings, log)
    return client, log


def serve(requests, replies, settings: dict, client, log: list) -> None:
    function = None
    replies.write(json.dumps({"ok": True, "ready": True}) + "\n")  # started: the answer's time begins now
    replies.flush()
    for line in requests:
        request = json.loads(line)
        reply: dict
        try:
            if request["op"] == "load":
                function = load(Path(request["file"]), request["function"])
                reply = {"ok": True}
            else:
                reply = {"ok": True, "value": run(function, request, client)}
        except SystemExit as stop:
            reply = {"ok": False, "exit": stop.code if isinstance(stop.code, int) else 1}
        except BaseException as exc:  # the answer's own error, reported to the learner by the grader
            message = getattr(exc, "message", None) or str(exc)  # a MilvusException's own text, without its repr
            reply = {"ok": False, "error": type(exc).__name__, "message": str(message), "where": where(exc)}
        reply["calls"], log[:] = list(log), []
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
        if "exit" in reply:
            return


def run(function, request: dict, client):
    if request["op"] == "map":  # many calls in one request (5.2: thousands of users)
        return [encode(function(*args)) for args in request["args_list"]]
    args = [decode_argument(a, client) for a in request.get("args", [])]
    return encode(function(*args))


ANSWER = [""]  # the answer's file, for the line number of what it raised


def load(path: Path, name: str):
    ANSWER[0] = str(path)
    spec = importlib.util.spec_from_file_location("answer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = getattr(module, name, None)
    if not callable(function):
        raise AttributeError(f"{path.name} has no function {name}()")
    return function


def where(exc: BaseException) -> str:
    """The answer's own line that raised (file:line), not pymilvus' internals."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == ANSWER[0]]
    return f"line {frames[-1].lineno}" if frames else ""


def main() -> None:
    requests = os.fdopen(int(sys.argv[1]), "r", encoding="utf-8")
    replies = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
    settings = json.loads(os.environ.get("GRADER_SETTINGS", "{}"))
    logging.disable(logging.CRITICAL)  # the answer's failed calls are reported by the grader, not logged by pymilvus
    import numpy  # noqa: F401  (imported before the sandbox closes: it loads native code)
    import pymilvus  # noqa: F401

    client, log = connect(settings)
    sandbox(Path(os.getcwd()), [Path(p) for p in settings.get("forbidden", [])])
    serve(requests, replies, settings, client, log)


if __name__ == "__main__":
    main()
