"""common.processes.stop: the whole group goes, a child that ignores SIGTERM is killed, and stop never hangs."""

from __future__ import annotations

import sys
import threading
import time

from common import processes

IGNORES_SIGTERM = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"


def test_stop_kills_a_child_that_ignores_sigterm_and_its_group():
    child = processes.start([sys.executable, "-c", IGNORES_SIGTERM])
    time.sleep(0.3)  # let it install the handler
    started = time.monotonic()
    processes.stop(child, timeout=1)
    assert child.poll() is not None and not processes.group_alive(child.pid)
    assert time.monotonic() - started < 5
    processes.release(child)


def test_stop_gives_up_on_a_group_it_cannot_end(monkeypatch):
    # a unit-test mock: a group that never reports gone (a process stuck in the kernel, or a reused id)
    child = processes.start([sys.executable, "-c", "pass"])
    child.wait()
    monkeypatch.setattr(processes, "group_alive", lambda pgid: True)
    started = time.monotonic()
    stopping = threading.Thread(target=processes.stop, args=(child, 0.5), daemon=True)
    stopping.start()
    stopping.join(timeout=5)
    assert not stopping.is_alive(), "stop() still waiting 5 s after a 0.5 s timeout"
    assert time.monotonic() - started > 0.9  # it did wait out the SIGTERM and the SIGKILL grace
    processes.release(child)
