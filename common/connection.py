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
from pathlib import Path
from urllib.parse import urlparse

from common.config import is_lite_uri, load_settings, resolve_uri
from common.errors import EngineUnavailable

from pymilvus import MilvusClient

HOW_TO_START = (
    "start an engine: leave MILVUS_URI unset to use Milvus Lite (a local file, "
    "nothing to start), run `make server` for the embedded Milvus server "
    "(http://127.0.0.1:19530), or `docker compose up -d` for Milvus standalone; "
    "then set MILVUS_URI in .env or the environment"
)


@contextlib.contextmanager
def quiet_pymilvus():
    """Silence pymilvus' own error logging while we handle the error ourselves."""
    logger = logging.getLogger("pymilvus")
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def server_address(uri: str) -> tuple[str, int]:
    """Host and port of a server URI (``http://host:19530`` → ``("host", 19530)``)."""
    parsed = urlparse(uri)
    if not parsed.hostname:
        raise EngineUnavailable(f"MILVUS_URI={uri!r} has no host", HOW_TO_START)
    default_port = 443 if parsed.scheme == "https" else 19530
    try:
        return parsed.hostname, parsed.port or default_port
    except ValueError as exc:  # port out of range or not a number
        raise EngineUnavailable(f"MILVUS_URI={uri!r}: {exc}", HOW_TO_START) from None


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
        raise EngineUnavailable(
            f"another process is using the Milvus Lite database {path}",
            "Milvus Lite allows one process per database file: wait for the other lesson to finish, "
            "or set MILVUS_URI to another .db path (or to a server)",
        ) from None
    finally:
        os.close(fd)


def precheck(uri: str | None = None, timeout: float | None = None) -> str:
    """The fast half of ``connect``: is the server port open / the Lite file free? Returns the resolved URI.

    Lessons that do minutes of work before they need Milvus (encoding text,
    say) call this first, so a wrong URI still fails within seconds, without
    holding an idle connection meanwhile.
    """
    settings = load_settings()
    uri = resolve_uri(uri) if uri else settings.milvus_uri
    if is_lite_uri(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        check_lite_lock(uri)
    else:
        check_port(uri, settings.connect_timeout if timeout is None else timeout)
    return uri


def connect(uri: str | None = None, token: str | None = None, timeout: float | None = None) -> MilvusClient:
    """Return a connected client for ``uri`` (default: ``MILVUS_URI`` or the Lite file).

    The caller owns the client: use it as a context manager or call ``close()``.
    """
    settings = load_settings()
    uri = precheck(uri, timeout)
    token = settings.milvus_token if token is None else token
    timeout = settings.connect_timeout if timeout is None else timeout

    client = None
    with quiet_pymilvus():
        try:
            client = MilvusClient(uri=uri, token=token, timeout=timeout)
            client.get_server_version(timeout=timeout)
            if is_lite_uri(uri):
                _LITE_OPENED_HERE.add(uri)
            return client
        except Exception as exc:  # noqa: BLE001 - every cause becomes one clear message
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            raise EngineUnavailable(
                f"Milvus at {uri} did not answer: {short_reason(exc)}", fix_for(exc)
            ) from None


def short_reason(exc: Exception) -> str:
    """The first line of a pymilvus error's message, without the class wrapper."""
    text = getattr(exc, "message", None) or str(exc)
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


def fix_for(exc: Exception) -> str:
    text = str(exc).lower()
    if "auth" in text or "credential" in text or "password" in text:
        return "check MILVUS_TOKEN (user:password, or an API key) in .env or the environment"
    return HOW_TO_START
