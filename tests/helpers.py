"""Helpers for the lesson tests.

Lessons always run in a child process, as they do under the runner: Milvus
Lite lets one process hold a database file, and a child process also proves
the lesson works on its own (imports, cwd, exit code).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from common.config import REPO_ROOT
from common.engine import describe
from common.processes import running_processes  # noqa: F401  (the tests import it from here)


def lesson_path(name: str) -> Path:
    """``"step01_basics/01_environment_check.py"`` → absolute path."""
    return REPO_ROOT / name


def run_lesson(name: str, *argv: str, timeout: float = 600, env: dict | None = None) -> dict:
    """Run a lesson's main(argv) in a child process and return the figures it returned."""
    return run_lesson_output(name, *argv, timeout=timeout, env=env)[0]


def run_lesson_output(name: str, *argv: str, timeout: float = 600, env: dict | None = None) -> tuple[dict, str]:
    """Like ``run_lesson``, and the lesson's stderr too."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run(
            [sys.executable, "-m", "course.curriculum", "_child", str(lesson_path(name)), str(out), *argv],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if done.returncode != 0:
            raise AssertionError(f"{name} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return json.loads(out.read_text()), done.stderr


def run_lesson_script(
    name: str,
    *argv: str,
    cwd: Path | None = None,
    env: dict | None = None,
    unset: tuple[str, ...] = (),
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run a lesson as a learner does: ``python path/to/lesson.py``, from ``cwd``.

    ``unset`` removes variables from the inherited environment, e.g. the
    COURSE_MILVUS_URI that importing ``common`` in the test process set.
    """
    child_env = {key: value for key, value in os.environ.items() if key not in unset}
    return subprocess.run(
        [sys.executable, str(lesson_path(name)), *argv],
        cwd=cwd,
        env={**child_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def current_engine():
    """Describe the engine behind MILVUS_URI, asked from a child process."""
    code = "from common.cli import engine\nwith engine(quiet=True) as (_, info): print(info.kind, info.raw_version)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise AssertionError(f"no engine at MILVUS_URI: {done.stderr[-1500:]}")
    kind, raw = done.stdout.split()
    return describe(kind, raw)


def expected_for(table: dict, info) -> object:
    """Look an engine up in an expectation table keyed by (kind, "major.minor").

    Engines not in the table (e.g. a Milvus 3.0 compose server) fall back to
    the ``(kind, "*")`` entry.
    """
    key = (info.kind, f"{info.version[0]}.{info.version[1]}")
    return table.get(key, table.get((info.kind, "*")))


def sigterm_and_wait(process: subprocess.Popen, timeout: float) -> int:
    """Send SIGTERM as `kill` would, wait for the exit, and never leave the process behind."""
    try:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
