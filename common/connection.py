"""One way to get a ``MilvusClient``: fail fast, say why, say how to fix it.

pymilvus on its own may retry for minutes against a dead address and logs a
traceback for every failed RPC, even one the caller catches. ``connect``
first checks that something listens on the server's TCP port (bounded by
``MILVUS_CONNECT_TIMEOUT``), then asks the server for its version with the
same bound, and turns any failure into one ``EngineUnavailable`` message.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from common.config import DEFAULT_LITE_DB, Settings, is_lite_uri, load_settings, resolve_uri
from common.errors import CourseError, EngineUnavailable
from common.resources import unexpected_entries

from pymilvus import MilvusClient

HOW_TO_START = (
    "start an engine: leave MILVUS_URI unset to use Milvus Lite (a local file, "
    "nothing to start), run `make server` for the embedded Milvus server "
    "(http://127.0.0.1:19530), or `docker compose up -d` for Milvus standalone; "
    "then set MILVUS_URI in .env or the environment"
)


RESET_DB = "`make reset-db` (removes the course database .milvus/course.db; lessons recreate what they need)"


class DamagedDatabase(CourseError):
    """A Milvus Lite database whose files cannot be read."""


@contextlib.contextmanager
def quiet_pymilvus():
    """Silence pymilvus' (and Milvus Lite's) own error logging while we handle the error ourselves.
    pymilvus gives `pymilvus.milvus_client` a level of its own, so it is named beside its parent."""
    loggers = [logging.getLogger(name) for name in ("pymilvus", "pymilvus.milvus_client", "milvus_lite")]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous):
            logger.setLevel(level)


def server_address(uri: str) -> tuple[str, int]:
    """Host and port of a server URI (``http://host:19530`` → ``("host", 19530)``)."""
    try:
        parsed = urlparse(uri)
        port = parsed.port
    except ValueError as exc:  # port out of range or not a number, a broken IPv6 literal
        raise EngineUnavailable(f"MILVUS_URI={uri!r}: {exc}", HOW_TO_START) from None
    if not parsed.hostname:
        raise EngineUnavailable(f"MILVUS_URI={uri!r} has no host", HOW_TO_START)
    return parsed.hostname, port or (443 if parsed.scheme == "https" else 19530)


def check_port(uri: str, timeout: float) -> None:
    """Raise ``EngineUnavailable`` unless a TCP connection to the URI opens in time."""
    host, port = server_address(uri)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise EngineUnavailable(f"cannot reach Milvus at {uri} ({reason})", HOW_TO_START)


LOCKED_FIX = (
    "Milvus Lite allows one process per database file: wait for the other lesson to finish, "
    "or set MILVUS_URI to another .db path (or to a server)"
)
_LITE_OPENED_HERE: set[str] = set()  # Lite files this process has opened (it keeps their lock)


def check_lite_lock(path: str) -> None:
    """Fail clearly if another process has the Milvus Lite file open.

    Milvus Lite allows one process per database (a ``LOCK`` file inside it);
    the second one would otherwise fail with a traceback from Lite's thread.
    """
    lock = Path(path) / "LOCK"
    if path in _LITE_OPENED_HERE or not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        raise EngineUnavailable(f"another process is using the Milvus Lite database {path}", LOCKED_FIX) from None
    finally:
        os.close(fd)


def lite_fix(path: str) -> str:
    if path == str(DEFAULT_LITE_DB):
        return "set MILVUS_URI to a .db path in a folder you can write, or fix the folder's permissions"
    return "set MILVUS_URI to a .db path in a folder you can write (or unset it to use .milvus/course.db)"


def check_lite_path(path: str) -> None:
    """Fail clearly when a Milvus Lite database cannot live at ``path`` (the reason named, no traceback).

    Milvus Lite keeps a database in a folder; creating its parent and writing a probe file there
    surfaces the operating system's real reason (a read-only place, /proc, a file in the way)
    instead of Lite's generic "Open local milvus failed".
    """
    db = Path(path)
    blocking = next((p for p in [db, *db.parents] if p.exists()), None)
    if blocking is not None and blocking != db and not blocking.is_dir():
        raise EngineUnavailable(
            f"cannot create the Milvus Lite database {path}: {blocking} is a file, not a folder", lite_fix(path)
        )
    if db.exists() and not db.is_dir():
        raise EngineUnavailable(
            f"{path} exists but is not a Milvus Lite database (a folder): it is a file",
            f"move the file away, or {lite_fix(path)}",
        )
    found = lite_database_problem(db) if db.is_dir() else None
    if found:  # Lite would move in beside the learner's files (and reset-db could never remove it)
        raise EngineUnavailable(
            f"{path} is not a Milvus Lite database: it is {found}", f"move those files away, or {lite_fix(path)}"
        )
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        probe = db.parent / f".{db.name}.write-check-{os.getpid()}"  # beside the database, never inside it
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise EngineUnavailable(
            f"cannot write the Milvus Lite database {path}: {exc.strerror or exc}", lite_fix(path)
        ) from None


def precheck(uri: str | None = None, timeout: float | None = None) -> str:
    """The fast half of ``connect``: is the server port open / the Lite file free? Returns the resolved URI.

    Lessons that do minutes of work before they need Milvus (encoding text,
    say) call this first, so a wrong URI still fails within seconds, without
    holding an idle connection meanwhile.
    """
    settings = load_settings()
    uri = resolve_uri(uri) if uri else settings.milvus_uri
    check_reachable(uri, settings.connect_timeout if timeout is None else timeout)
    return uri


def verify_engine(uri: str | None = None) -> str:
    """Connect to a server, ask it a real question (its version), close; return the URI (Lite: ``precheck``).

    Stricter than ``precheck``: a listener that accepts the TCP connection but never answers (a wrong
    service on the port, a hung server) fails here within ``MILVUS_CONNECT_TIMEOUT``, before a lesson
    spends minutes on work it could not store.
    """
    settings = load_settings()
    uri = resolve_uri(uri) if uri else settings.milvus_uri
    if is_lite_uri(uri):  # a local file answers for itself; opening it now would keep Lite's server idling
        check_reachable(uri, settings.connect_timeout)
        return uri
    client = connect(uri, settings=settings)
    with quiet_pymilvus(), contextlib.suppress(Exception):
        client.close()
    _LITE_OPENED_HERE.discard(uri)
    return uri


def check_reachable(uri: str, timeout: float) -> None:
    """A resolved URI: the Lite folder usable and free, or the server's port open within ``timeout``."""
    if is_lite_uri(uri):
        check_lite_path(uri)
        check_lite_lock(uri)
    else:
        check_port(uri, timeout)


def connect(
    uri: str | None = None, token: str | None = None, timeout: float | None = None, settings: Settings | None = None
) -> MilvusClient:
    """Return a connected client for ``uri`` (default: ``MILVUS_URI`` or the Lite file).

    ``settings`` (read from ``.env`` and the environment when not given) supply what is not passed.
    The caller owns the client: use it as a context manager or call ``close()``.
    """
    settings = settings or load_settings()
    uri = resolve_uri(uri) if uri else settings.milvus_uri
    timeout = settings.connect_timeout if timeout is None else timeout
    with opening(uri):
        check_reachable(uri, timeout)
        return open_client(uri, settings.milvus_token if token is None else token, timeout)


@contextlib.contextmanager
def opening(uri: str) -> Iterator[None]:
    """Serialise opening one Milvus Lite file across processes (a no-op for servers).

    Two lessons started at the same moment would both find Lite's LOCK free and race; the loser
    gets Lite's generic "Open local milvus failed". Holding this lock while checking and opening
    makes the loser wait a moment, then see the LOCK held and say so clearly.
    """
    if not is_lite_uri(uri):
        yield
        return
    try:
        handle = open(open_lock_path(uri), "a")  # noqa: SIM115 - closed below, after unlocking
    except OSError:  # the folder cannot take it: check_reachable names the real cause next
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # held for the second or so that opening takes
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)  # never unlinked: a process waiting on it would lock a ghost


def open_lock_path(uri: str) -> Path:
    """The lock ``opening`` holds: beside the database (``course.db.open.lock``), owned by whoever owns that folder.

    Not in /tmp: a lock there outlives every database, and one left by another user cannot be opened.
    """
    db = Path(uri)
    return db.with_name(db.name + OPEN_LOCK_SUFFIX)


OPEN_LOCK_SUFFIX = ".open.lock"
LITE_ENTRIES = (  # what Milvus Lite 3.x keeps at the top of a database folder (milvus_lite/db.py)
    "LOCK",
    "collections",
    "databases",
    ".database-staging",
    "aliases.json",
    "database_properties.json",
)


def lite_database_problem(path: Path) -> str | None:
    """None when ``path`` is a Milvus Lite database (or an empty folder); else what is there instead.

    A Lite database holds only Lite's own entries (``LITE_ENTRIES``), and each collection is a folder.
    Anything else means the folder is somebody's, and the course neither opens nor deletes it.
    """
    if path.is_symlink():
        return "a symlink"
    if not path.is_dir():
        return "a file"
    extra = unexpected_entries(path, LITE_ENTRIES)
    for holder in (path / "collections", *sorted((path / "databases").glob("*/collections"))):
        if holder.is_dir():
            extra += [f"{p.relative_to(path)}" for p in holder.iterdir() if not p.is_dir() or p.is_symlink()]
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        return f"a folder holding {shown}"
    return None


def open_client(uri: str, token: str, timeout: float) -> MilvusClient:
    client = None
    with quiet_pymilvus():
        try:
            client = MilvusClient(uri=uri, token=token, timeout=timeout)
            client.get_server_version(timeout=timeout)
            if is_lite_uri(uri):
                _LITE_OPENED_HERE.add(uri)
                client.list_collections()  # Lite reads every collection's files here: a damaged one shows now
            return client
        except Exception as exc:  # noqa: BLE001 - every cause becomes one clear message
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            _LITE_OPENED_HERE.discard(uri)
            raise failure(uri, exc) from None


def failure(uri: str, exc: Exception) -> CourseError:
    """The one message for a failed connect: what failed, why, and the fix that fits the cause."""
    reason = short_reason(exc)
    if not is_lite_uri(uri):
        return EngineUnavailable(f"Milvus at {uri} did not answer: {reason}", fix_for(exc))
    if type(exc).__name__ == "DataDirLockedError" or "lock" in reason.lower():
        return EngineUnavailable(f"another process is using the Milvus Lite database {uri}", LOCKED_FIX)
    damaged = damaged_collection(uri, reason)
    if damaged:
        return DamagedDatabase(
            f"the Milvus Lite database {uri} is damaged: collection '{damaged.name}' cannot be read ({reason[:160]})",
            f"delete that collection's folder (its rows are lost; the lesson that made it recreates it): "
            f"rm -r '{damaged}'  — or start over with {RESET_DB}",
        )
    return EngineUnavailable(f"Milvus Lite could not open {uri}: {reason}", f"{RESET_DB}, or {lite_fix(uri)}")


def damaged_collection(uri: str, reason: str) -> Path | None:
    """The collection folder a Lite error message points into, if any."""
    collections = Path(uri) / "collections"
    for folder in sorted(collections.glob("*")) if collections.is_dir() else []:
        if str(folder) + "/" in reason or f"'{folder.name}'" in reason:
            return folder
    return None


def short_reason(exc: Exception) -> str:
    """The first line of a pymilvus error's message, without the class wrapper."""
    text = getattr(exc, "message", None) or str(exc)
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


def fix_for(exc: Exception) -> str:
    text = str(exc).lower()
    if "auth" in text or "credential" in text or "password" in text:
        return "check MILVUS_TOKEN (user:password, or an API key) in .env or the environment"
    return HOW_TO_START
