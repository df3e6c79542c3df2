"""Start and stop the embedded Milvus server (PyPI ``milvus``: ``milvus-server``).

It is a real standalone Milvus (2.3.x) with embedded etcd and local storage:
gRPC on 19530, health and metrics on 9091. It lives in its own venv
(``.venv-server``, made by ``make server-venv``) because it needs
``setuptools<81``. ``python -m course.server`` (``make server``, ``make test``) starts it from
the command line; lesson 5.5 starts a secured one with ``EmbeddedServer``.

The server takes 6–40 s to become healthy on a 2-core machine (see ``start`` for its start-up race).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import processes
from common.config import REPO_ROOT
from common.errors import EngineUnavailable

DEFAULT_BIN = REPO_ROOT / ".venv-server" / "bin" / "milvus-server"
HEALTH_URL = "http://127.0.0.1:9091/healthz"
SESSION_TTL_S = 35  # the server's session lease (common.session.ttl: 30 s) plus a margin


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def healthy(url: str = HEALTH_URL) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"OK"
    except OSError:
        return False


class EmbeddedServer:
    """One ``milvus-server`` process group; use as a context manager."""

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int = 19530,
        extra_args: list[str] | None = None,
        binary: Path | None = None,
        health_url: str = HEALTH_URL,
    ):
        self.binary = Path(binary or os.environ.get("MILVUS_SERVER_BIN", DEFAULT_BIN))
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="milvus-server-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self.port = port
        self.extra_args = extra_args or []
        self.health_url = health_url
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, attempt_timeout: float = 30, attempts: int = 3) -> EmbeddedServer:
        """Start the server and wait until it is healthy.

        The embedded 2.3 server sometimes never becomes healthy: its components
        register in etcd while etcd is still electing itself leader ("etcdserver:
        leader changed"), and the start-up hangs. Measured here: 2 of 4 starts in a
        row. A healthy start takes 6–40 s, so an attempt that is not healthy after
        ``attempt_timeout`` is stopped and started again on the same data
        directory, at most ``attempts`` times, saying so on stderr; after a restart it
        waits until the dead attempt's etcd sessions have expired.
        """
        if not self.binary.exists():
            raise EngineUnavailable(
                f"the embedded Milvus server is not installed ({self.binary} not found)",
                "run `make server-venv` (creates .venv-server with the PyPI package milvus)",
            )
        if port_open(self.port):
            raise EngineUnavailable(
                f"port {self.port} is already in use: another Milvus (or program) is listening",
                "stop it first, or point MILVUS_URI at it instead of starting a new server",
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            self._launch()
            if self._wait_healthy(attempt_timeout):
                if attempt > 1:
                    # The killed attempt's components stay registered in etcd until their session lease
                    # (common.session.ttl, 30 s) runs out; until then the new root coordinator still calls
                    # the dead proxy (seen: update_password → "UpdateCredentialCache failed, proxyID = 1").
                    print(
                        f"milvus-server healthy on attempt {attempt}; waiting {SESSION_TTL_S} s for the previous "
                        "attempt's sessions to expire",
                        file=sys.stderr,
                        flush=True,
                    )
                    time.sleep(SESSION_TTL_S)
                return self
            tail = self.log_tail()
            self._terminate()
            if attempt < attempts:
                print(
                    f"milvus-server was not healthy after {attempt_timeout:.0f} s (attempt {attempt} of {attempts}, "
                    "the embedded server's start-up race); starting it again",
                    file=sys.stderr,
                    flush=True,
                )
        self.stop()
        raise EngineUnavailable(
            f"milvus-server was not healthy after {attempts} attempts of {attempt_timeout:.0f} s; its log "
            f"ends:\n{tail}",
            f"see {self.data_dir / 'logs'}",
        )

    def _launch(self) -> None:
        log = open(self.log_path, "ab")
        command = [str(self.binary), "--data", str(self.data_dir), "--proxy-port", str(self.port), *self.extra_args]
        # its own session and process group, and a reaper: the group dies with this process, even by SIGKILL
        self.process = processes.start(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineUnavailable(
                    f"milvus-server exited with code {self.process.returncode} while starting:\n{self.log_tail()}",
                    f"see {self.log_path}",
                )
            if healthy(self.health_url) and port_open(self.port):
                return True
            time.sleep(1)
        return False

    def stop(self, timeout: float = 30) -> None:
        """Stop the whole process group (the launcher and the milvus binary it spawned)."""
        self._terminate(timeout)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _terminate(self, timeout: float = 30) -> None:
        # the whole group: a half-stopped server still holds its etcd ports and breaks the next start
        processes.stop(self.process, timeout)
        self.process = None

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
