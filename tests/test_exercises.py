"""The graded exercises, both sides: every reference solution passes the grader on the live engine,
every untouched template fails with its hint, and plausible wrong answers fail on what the grader measures."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.config import REPO_ROOT
from common.engine import EngineInfo, describe
from course.grader import EXERCISES

import pytest

pytestmark = pytest.mark.lesson


def grader(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course.grader", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def rows(output: str) -> dict[str, str]:
    """exercise id → its result column, from the grader's table."""
    return {m[1]: m[2] for m in re.finditer(r"^(\d\.\d)\s+\S+\s+(pass|FAIL|skipped)\b", output, re.M)}


def named_skips(output: str) -> set[str]:
    """Exercises the grader skipped with a named reason (the engine or machine lacks what they need)."""
    return {m[1] for m in re.finditer(r"^(\d\.\d)\s+\S+\s+skipped\s+\S+\s+skipped: needs ", output, re.M)}


# Without promtool (CI installs it) the alert exercise is skipped, by name; so is an exercise whose engine
# feature this engine lacks (e.g. 2.5+ text match on the 2.3.5 server).
NO_PROMTOOL = {"5.1"} if shutil.which("promtool") is None else set()
NEEDS = {"1.4": "timestamptz", "1.5": "nullable_fields", "2.3": "text_match", "2.4": "decay_ranker"}


def graded_on(output: str) -> EngineInfo:
    """The engine a grader run graded on, from its banner ('engine: Milvus Lite 3.2.2, ...')."""
    found = re.search(r"^engine: Milvus (Lite|server) (\d+\.\d+\.\d+)", output, re.M)
    assert found, output
    return describe("lite" if found[1] == "Lite" else "server", found[2])


def skipped_for_want_of(output: str) -> dict[str, str]:
    """exercise id → the capability its named skip says this engine lacks."""
    return dict(re.findall(r"^(\d\.\d)\s+\S+\s+skipped\s+\S+\s+skipped: needs (\w+) ", output, re.M))


def test_every_solution_passes():
    done = grader("--solutions")
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = named_skips(done.stdout)
    assert NO_PROMTOOL <= skipped and "5.1" not in skipped - NO_PROMTOOL, done.stdout
    info = graded_on(done.stdout)  # an engine-feature exercise is skipped exactly where its capability is missing
    lacking = {exercise: need for exercise, need in NEEDS.items() if not info.has(need)}
    assert {k: v for k, v in skipped_for_want_of(done.stdout).items() if k not in NO_PROMTOOL} == lacking, done.stdout
    assert rows(done.stdout) == {e.id: "skipped" if e.id in skipped else "pass" for e in EXERCISES}, done.stdout
    assert "hint" not in done.stdout


@pytest.mark.engine_neutral
def test_every_template_fails_with_its_hint():
    done = grader()
    assert done.returncode == 1, done.stdout + done.stderr
    skipped = named_skips(done.stdout)
    assert "5.1" not in skipped - NO_PROMTOOL, done.stdout
    assert rows(done.stdout) == {e.id: "skipped" if e.id in skipped else "FAIL" for e in EXERCISES}, done.stdout
    for exercise in EXERCISES:
        if exercise.id not in skipped:
            assert f"hint {exercise.id}: {exercise.hint}" in done.stdout
            assert re.search(rf"^{re.escape(exercise.id)}\s+\S+\s+FAIL\s+\S+\s+not written yet", done.stdout, re.M)
    assert "Traceback" not in done.stdout + done.stderr


def test_the_nullable_fields_exercise_is_graded_where_the_engine_has_them_and_skipped_by_name_elsewhere():
    done = grader("--ex", "1.5", "--solutions")
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    info = graded_on(done.stdout)
    assert info.has("nullable_fields") == (info.kind == "lite" or info.version >= (2, 5, 0))  # Lite 3.2.2, 2.5+
    line = re.search(r"^1\.5\s.*$", done.stdout, re.M)[0]
    if info.has("nullable_fields"):
        assert rows(done.stdout) == {"1.5": "pass"} and "IS NULL" in line, done.stdout
    else:  # the 2.3.5 server: a named skip, never a pass, and the answer is not even run
        assert rows(done.stdout) == {"1.5": "skipped"}, done.stdout
        assert f"skipped: needs nullable_fields (Milvus 2.5+; have {info.label})" in line, done.stdout
    template = grader("--ex", "1.5")
    if info.has("nullable_fields"):
        assert template.returncode == 1 and re.search(
            r"^1\.5\s+\S+\s+FAIL\s+\S+\s+not written yet", template.stdout, re.M
        )
    else:
        assert template.returncode == 0 and "skipped: needs nullable_fields" in template.stdout, template.stdout


def test_an_assumed_version_grades_nothing_the_real_server_lacks(engine_info):
    if engine_info.kind != "server" or engine_info.version >= (2, 5, 0):
        pytest.skip(f"needs a server older than 2.5 to assume 3.0.2 on (have {engine_info.label})")
    for exercise, capability in NEEDS.items():  # 1.4 would send a TIMESTAMPTZ field, which 2.3.5 exits on
        done = grader("--ex", exercise, "--solutions", env={"MILVUS_ASSUME_VERSION": "3.0.2"})
        assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        assert rows(done.stdout) == {exercise: "skipped"}, done.stdout
        assert f"skipped: needs {capability} (Milvus " in done.stdout, done.stdout
        assert f"the engine is {engine_info.actual_label}, assumed newer" in done.stdout, done.stdout
    assert rows(grader("--ex", "1.1", "--solutions").stdout) == {"1.1": "pass"}  # the server is still up


@pytest.mark.engine_neutral
def test_one_step_or_one_exercise_and_a_wrong_choice():
    step2 = {e.id for e in EXERCISES if e.id.startswith("2.")}
    assert set(rows(grader("--step", "2", "--solutions").stdout)) == step2
    assert set(rows(grader("--ex", "4.2", "--solutions").stdout)) == {"4.2"}
    done = grader("--ex", "9.9")
    assert done.returncode == 2 and "no exercise matches" in done.stderr and "Traceback" not in done.stderr
    done = grader("--answers", "/no/such/folder")
    assert done.returncode == 2 and "no folder" in done.stderr and "Traceback" not in done.stderr


# Answers that must not be able to hang, end or escape the grader: each fails with its own message.
UNSAFE = {
    "1.1": ("def build_schema():\n    while True:\n        pass\n", "build_schema() did not return within 3 s"),
    "1.2": ("while True:\n    pass\n", "loading the file did not return within 3 s"),
    "1.3": ("import sys\ndef top_k(client, collection, query, k):\n    sys.exit(0)\n", "top_k() called sys.exit(0)"),
    "2.1": ("import os\ndef choose_index():\n    os._exit(0)\n", "ended (exit status 0) during choose_index()"),
    "2.2": (
        "import os, signal\ndef filter_expr():\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        "killed by SIGKILL during filter_expr()",
    ),
    "4.2": (
        "def damaged_files(folder):\n    open(%r, 'w').write('x')\n    return []\n",
        "lets an answer write only in its temp folder",
    ),
    "5.2": (
        "import subprocess\ndef arm(user_id, share):\n    subprocess.run(['true'])\n",
        "does not let an answer start processes",
    ),
    "5.3": (
        "from pathlib import Path\ndef switch(client, alias, new_collection):\n    Path(%r).read_bytes()\n",
        "does not let an answer open",
    ),
}


def test_answers_that_loop_exit_or_escape_fail_each_with_its_message(tmp_path):
    outside = tmp_path / "outside.txt"
    course_db = REPO_ROOT / ".milvus" / "course.db"
    for exercise_id, (source, _) in UNSAFE.items():
        target = tmp_path / "answers" / next(e.file for e in EXERCISES if e.id == exercise_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        path = outside if exercise_id == "4.2" else course_db
        target.write_text(source % str(path) if "%r" in source else source)
    started = time.monotonic()
    done = grader("--answers", str(tmp_path / "answers"), "--timeout", "3")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out and "[ERROR]" not in out, out
    got = rows(done.stdout)
    for exercise_id, (_, message) in UNSAFE.items():
        assert got[exercise_id] == "FAIL" and message in done.stdout, (exercise_id, done.stdout)
    assert not outside.exists()
    assert time.monotonic() - started < 120, "a looping answer must be stopped at its time limit"


def test_ctrl_c_prints_one_line_and_leaves_no_process(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "course.grader", "--solutions"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    banner = process.stdout.readline()  # printed once the sandbox engine is up
    assert banner.startswith("engine:"), banner + process.stderr.read()
    port = re.search(r"127\.0\.0\.1:(\d+)", banner)
    time.sleep(3)  # in the middle of grading an answer
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert err.strip() == "interrupted", err
    assert "Traceback" not in out + err
    time.sleep(1)
    assert not started_by_the_grader(port[1] if port else None, process.pid)


def started_by_the_grader(port: str | None, pid: int) -> list[str]:
    """Processes still running that this grader started: its answers' processes and its Lite server."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        ours = port and (f"--port {port}" in command or f"MILVUS_URI=http://127.0.0.1:{port}" in environ)
        if ours and ("child.py" in command or "milvus_lite" in command):
            found.append(command)
    return found
