"""The grader against a corpus of answers (tests/exercise_answers/): every wrong one fails with the message
that names its mistake, every alternative correct one passes.

All of them are graded on Milvus Lite, in one grader run (one Lite server, one process per answer). On a
server only the cases whose grading depends on the engine run (``Case.server``): what Milvus Lite lets through
and a server refuses, build params an engine may drop, alias calls.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from common.config import REPO_ROOT, is_lite_uri, load_settings
from course.grader import EXERCISES

import pytest

from tests.exercise_answers import CASES, Case

pytestmark = pytest.mark.lesson

FILES = {e.id: e.file for e in EXERCISES}


def on_lite() -> bool:
    return is_lite_uri(load_settings().milvus_uri)


def lay_out(cases: list[Case], root: Path) -> dict[tuple[str, str], Case]:
    """Folders a0, a1, ... each holding at most one case per exercise; (folder, exercise) → case."""
    placed: dict[tuple[str, str], Case] = {}
    for case in cases:
        slot = 0
        while (f"a{slot}", case.exercise) in placed:
            slot += 1
        target = root / f"a{slot}" / FILES[case.exercise]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(case.source)
        placed[(f"a{slot}", case.exercise)] = case
    return placed


def grade_all(root: Path, folders: list[str]) -> subprocess.CompletedProcess:
    argv = [arg for folder in folders for arg in ("--answers", str(root / folder))]
    return subprocess.run(
        [sys.executable, "-m", "course.grader", *argv, "--timeout", "10"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
    )


def results(output: str) -> dict[tuple[str, str], str]:
    """(folder, exercise) → pass/FAIL/skipped, from the table."""
    found = re.finditer(r"^(\d\.\d)\s+(a\d+)/\S+\s+(pass|FAIL|skipped)\b", output, re.M)
    return {(m[2], m[1]): m[3] for m in found}


def problems(output: str) -> dict[tuple[str, str], str]:
    """(folder, exercise) → the problem lines printed under the table."""
    found = re.finditer(r"^(\d\.\d) \((a\d+)/\S+\):\n(.*?)^hint ", output, re.M | re.S)
    return {(m[2], m[1]): m[3] for m in found}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    cases = CASES if on_lite() else [c for c in CASES if c.server]
    root = tmp_path_factory.mktemp("answers")
    placed = lay_out(cases, root)
    done = grade_all(root, sorted({folder for folder, _ in placed}))
    return placed, done


def test_the_corpus_is_big_enough():
    for exercise in FILES:
        wrong = [c for c in CASES if c.exercise == exercise and c.expect]
        right = [c for c in CASES if c.exercise == exercise and not c.expect]
        assert len(wrong) >= 3 and len(right) >= 1, exercise


def test_each_wrong_answer_fails_with_its_message_and_each_right_one_passes(graded):
    placed, done = graded
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out and "[ERROR]" not in out, out
    got, said = results(done.stdout), problems(done.stdout)
    wrong = []
    for key, case in placed.items():
        if case.exercise == "5.1" and got.get(key) == "skipped":
            continue  # without promtool: asserted in test_exercises
        expect = case.expect if on_lite() or case.server_expect is None else case.server_expect
        want = "FAIL" if expect else "pass"
        if got.get(key) != want or (expect and expect.lower() not in said.get(key, "").lower()):
            wrong.append(f"{case.exercise} {case.name!r}: {got.get(key)}, said {said.get(key, '')!r}")
    assert not wrong, "\n".join(wrong) + "\n" + done.stdout[-3000:]
