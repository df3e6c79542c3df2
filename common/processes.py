"""Child processes that never outlive the lesson that started them — however the lesson ends.

A lesson's ``finally`` stops what it started on an exception, Ctrl-C or SIGTERM, but SIGKILL
(``kill -9``, the out-of-memory killer, a CI runner tearing down) gives it no chance. So each
child gets a *reaper*: a tiny process that waits for the end of a pipe only the lesson holds.
When the lesson dies for any reason the kernel closes that pipe, the reaper wakes up and kills
the child's whole process group (a server and whatever it started itself).

Children run in a session of their own, so Ctrl-C in a terminal reaches only the lesson, which
then stops them in order (no tracebacks from children that were interrupted mid-call).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REAPER = (
    "import os, signal, sys\n"
    "sys.stdin.buffer.read()  # returns when the lesson's end of the pipe closes\n"
    "try:\n    os.killpg(int(sys.argv[1]), signal.SIGKILL)\n"
    "except OSError:\n    pass\n"
)
_GUARDS: list[int] = []  # write ends of the reapers' pipes: open for exactly as long as this process lives


def start(command: list[str], **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session, killed (with its group) when this process ends, even by SIGKILL."""
    process = subprocess.Popen(command, start_new_session=True, **kwargs)
    read, write = os.pipe()
    subprocess.Popen(
        [sys.executable, "-c", REAPER, str(process.pid)],
        stdin=read,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(read)
    _GUARDS.append(write)
    process.reaper_guard = write  # release() closes it once the child has ended
    return process


def release(process: subprocess.Popen) -> None:
    """After ``process`` has ended: let its reaper go now (it kills what is left of the group) instead of at exit."""
    write = getattr(process, "reaper_guard", None)
    if write in _GUARDS:
        _GUARDS.remove(write)
        os.close(write)


def stop(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM the child's process group, then SIGKILL it after ``timeout``; never raises.

    Returns when no process of the group is left, not just the direct child: a launcher may exit
    before what it started (the embedded server's etcd keeps its ports until it is gone). It gives up
    ``timeout`` after the SIGKILL: a process stuck in the kernel, or a group id the system has since
    given to another user's process, must not hang the caller.
    """
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process.poll() is None or group_alive(process.pid):
        now = time.monotonic()
        if now > deadline + timeout:
            return
        if now > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    """True while any process of the process group still exists."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, what: str) -> None:
    """Wait until ``process`` listens on 127.0.0.1:``port``; raise RuntimeError if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


def running_processes() -> list[tuple[int, str]]:
    """(pid, command line) of every process on this machine, read from /proc (Linux; empty elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append((int(entry.name), command))
    return found
