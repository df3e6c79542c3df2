"""The runner: discovery, selection, isolation of failures, report files (no engine needed)."""

import json
import os
import subprocess
import sys
import time

from common.errors import CourseError
from course.curriculum import discover, run_lessons, select

import pytest

from tests.helpers import run_lesson_script

OK_LESSON = '''"""A lesson that works."""
def main(argv=None):
    print("working")
    return {"headline": "fine", "skipped": ["x: skipped: needs y (have z)"]}
'''
BROKEN_LESSON = '''"""A lesson that crashes."""
def main(argv=None):
    raise RuntimeError("boom")
'''


def test_discovers_lessons_in_order():
    lessons = discover()
    assert lessons, "no lessons found"
    assert [lesson.name for lesson in lessons] == sorted(lesson.name for lesson in lessons)
    assert lessons[0].id == "1.1"
    assert all(lesson.summary for lesson in lessons), "every lesson needs a docstring"


def test_select_by_step_id_and_name():
    lessons = discover()
    assert {lesson.step for lesson in select(lessons, ["1"])} == {1}
    assert [lesson.id for lesson in select(lessons, ["1.3"])] == ["1.3"]
    assert select(lessons, ["01_environment_check.py"])[0].id == "1.1"
    with pytest.raises(CourseError, match="no lesson matches"):
        select(lessons, ["9.9"])


def test_a_failing_lesson_does_not_stop_the_next(tmp_path):
    step = tmp_path / "step01_fake"
    step.mkdir()
    (step / "01_broken.py").write_text(BROKEN_LESSON)
    (step / "02_ok.py").write_text(OK_LESSON)
    rows = run_lessons(discover(tmp_path), [])
    assert rows[0]["status"].startswith("FAILED")
    assert rows[1]["status"] == "ok (1 skipped)" and rows[1]["headline"] == "fine"


def test_budgets_cover_every_lesson():
    from course.curriculum import BUDGET_S, TOTAL_BUDGET_S

    assert set(BUDGET_S) == {lesson.id for lesson in discover()}
    assert all(0 < budget <= TOTAL_BUDGET_S / 4 for budget in BUDGET_S.values())


def test_runner_flags_a_lesson_over_its_budget(tmp_path, monkeypatch):
    step = tmp_path / "step01_fake"
    step.mkdir()
    (step / "01_ok.py").write_text(OK_LESSON)
    monkeypatch.setitem(__import__("course.curriculum").curriculum.BUDGET_S, "1.1", 0.001)
    rows = run_lessons(discover(tmp_path), [])
    assert rows[0]["budget s"] == 0.001 and rows[0]["over budget"] and rows[0]["status"] == "ok (1 skipped)"


def test_list_and_exit_codes(tmp_path):
    listed = subprocess.run(
        [sys.executable, "-m", "course.curriculum", "list"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0 and "01_environment_check.py" in listed.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "course.curriculum", "run", "9.9"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2 and "no lesson matches" in unknown.stderr


@pytest.mark.lesson
def test_runner_writes_summary_report_and_plot(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "course.curriculum", "run", "1.1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "REPORTS_DIR": str(tmp_path / "reports")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Summary" in done.stdout and "1 lessons, 1 ok, 0 failed" in done.stdout
    report = json.loads((tmp_path / "reports" / "curriculum.json").read_text())
    assert report["lessons"][0]["status"] == "ok" and report["failed"] == []
    assert (tmp_path / "reports" / "curriculum.png").stat().st_size > 1000


# Lessons that need no Milvus at all (they validate files), and the one that starts its own secured server.
NO_ENGINE = {
    "step05_production/01_kubernetes.py",
    "step05_production/02_cicd.py",
    "step05_production/06_production_monitoring.py",
    "step05_production/05_security.py",
}
ENGINE_LESSONS = [
    name for name in (f"{lesson.path.parent.name}/{lesson.path.name}" for lesson in discover()) if name not in NO_ENGINE
]


@pytest.mark.parametrize("lesson", ENGINE_LESSONS)
def test_every_lesson_fails_fast_and_cleanly_on_a_dead_server(lesson, tmp_path):
    """Wrong URI → one short message naming it, within seconds, no traceback, nothing started first."""
    start = time.monotonic()
    done = run_lesson_script(lesson, cwd=tmp_path, env={"MILVUS_URI": "http://127.0.0.1:1"}, timeout=60)
    assert done.returncode == 2, done.stdout[-1500:] + done.stderr[-1500:]
    assert time.monotonic() - start < 15
    assert "Traceback" not in done.stderr and "http://127.0.0.1:1" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr
