"""The lessons as notebooks: jupytext reads each .py and writes it back byte for byte, cell markers
stay outside the docs regions, and a notebook of a Step 1-2 lesson that marks its cells runs under
nbclient and prints what the script prints.

Each of those runs twice, as a script from a folder outside the repository and then as a notebook over the same
Milvus Lite file (so it is also the lesson's rerun test), with the same
flags (FLAGS: the notebook's last cell becomes ``cli.run(main, [flags])``, as a learner may write it), small
enough that the module stays a few minutes: at the lessons' default sizes the fourteen notebooks took about
eleven minutes on this 2-core machine (2.2 alone 3-7 minutes), which a fresh clone's test run cannot afford.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

from common import cli
from common.config import REPO_ROOT
from common.errors import BadInput, CourseError
from course import notebooks
from course.curriculum import discover
from course.docs_code import BEGIN, END

import nbformat
import pytest
from nbclient import NotebookClient

LESSONS = discover()
MARKED = [lesson for lesson in LESSONS if notebooks.PERCENT.search(lesson.path.read_text(encoding="utf-8"))]
EXECUTED = [lesson for lesson in MARKED if lesson.step <= 2]
FLAGS = {  # lesson id → the flags both runs get; a lesson not named here runs at its defaults
    "1.4": ["--n", "500", "--dim", "32"],
    "1.5": ["--n", "100"],
    "1.6": ["--n", "400", "--ttl", "1"],
    "2.1": ["--n", "2000", "--dim", "32", "--latency-queries", "10"],
    "2.2": ["--n", "2000", "--dim", "32", "--queries", "100", "--latency-queries", "5", "--repeats", "1"],
    "2.3": ["--n", "2000", "--many", "16"],
    "2.4": ["--n", "2000", "--queries", "20"],
    "2.5": ["--n", "500"],
    "2.7": ["--n", "1000", "--queries", "5"],
    "2.8": ["--n", "2000", "--beyond", "1500", "--batch", "500"],
    "2.9": ["--n", "1000", "--queries", "20"],
}


def ids(lessons) -> list[str]:
    return [lesson.id for lesson in lessons]


@pytest.mark.parametrize("lesson", LESSONS, ids=ids(LESSONS))
def test_jupytext_writes_the_lesson_back_byte_for_byte(lesson):
    assert notebooks.round_trip(lesson.path) == lesson.path.read_text(encoding="utf-8")


@pytest.mark.parametrize("lesson", LESSONS, ids=ids(LESSONS))
def test_no_cell_marker_inside_a_docs_region(lesson):
    inside = None
    for number, line in enumerate(lesson.path.read_text(encoding="utf-8").splitlines(), 1):
        if BEGIN.match(line):
            inside = number
        elif END.match(line):
            inside = None
        elif line.lstrip().startswith("# %%"):
            assert inside is None, f"{lesson.name}:{number}: a cell marker inside the docs region opened on {inside}"


def test_every_lesson_marks_its_cells():
    assert ids(MARKED) == ids(LESSONS)


@pytest.mark.parametrize("lesson", MARKED, ids=ids(MARKED))
def test_a_marked_lesson_opens_with_its_docstring_as_markdown(lesson):
    text = lesson.path.read_text(encoding="utf-8")
    cells = notebooks.read_lesson(lesson.path).cells
    assert cells[0].cell_type == "markdown"
    assert cells[0].source.strip() == ast.get_docstring(ast.parse(text), clean=False).strip()
    assert cells[-1].cell_type == "code" and cells[-1].source.startswith('if __name__ == "__main__":')
    headings = [cell.source for cell in cells[1:] if cell.cell_type == "markdown"]
    assert headings and all(re.fullmatch(r"## \S.*", h) for h in headings), headings


def test_make_notebooks_writes_one_valid_notebook_per_lesson(tmp_path):
    written = notebooks.write_notebooks(LESSONS, tmp_path)
    assert len(written) == len(LESSONS)
    for lesson, path in zip(LESSONS, written):
        assert path == tmp_path / lesson.path.parent.name / (lesson.path.stem + ".ipynb")
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        first, setup = nb.cells[0], nb.cells[1]
        assert first.cell_type == "markdown" and first.source.startswith("# "), f"{lesson.id}: no docstring cell"
        assert setup.metadata["tags"] == [notebooks.GENERATED] and lesson.name in setup.source
        assert nb.cells[-1].source.rstrip().endswith("cli.run(main)")
    assert not list(tmp_path.rglob("*.partial"))


def test_a_notebook_changed_by_hand_is_never_written_over(tmp_path):
    lessons = LESSONS[:2]
    first, second = notebooks.write_notebooks(lessons, tmp_path)
    ran = nbformat.read(first, as_version=4)
    ran.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="figures\n")]
    nbformat.write(ran, first)  # outputs only: still ours to replace
    assert notebooks.write_notebooks(lessons, tmp_path) == [first, second]
    edited = nbformat.read(second, as_version=4)
    edited.cells.append(nbformat.v4.new_code_cell("my_own_experiment()"))
    nbformat.write(edited, second)
    before = first.stat().st_mtime_ns
    with pytest.raises(CourseError) as caught:
        notebooks.write_notebooks(lessons, tmp_path)
    assert str(second) in str(caught.value) and "edited since make notebooks wrote it" in str(caught.value)
    assert first.stat().st_mtime_ns == before, "nothing is written when one notebook would be lost"
    assert "my_own_experiment()" in second.read_text()
    notebooks.write_notebooks(lessons, tmp_path, force=True)
    assert "my_own_experiment()" not in second.read_text()


def test_make_notebooks_refuses_an_unknown_lesson(tmp_path):
    with pytest.raises(CourseError) as caught:
        notebooks.main(["9.9", "--out", str(tmp_path)])
    assert "9.9" in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_in_a_kernel_run_displays_the_figures_and_never_exits(monkeypatch):
    shown = []
    monkeypatch.setattr(cli, "_in_jupyter_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    seen = []

    def main(argv=None):
        seen.append(argv)
        return {"headline": "ok"}

    assert cli.run(main) is None
    assert seen == [[]] and shown == [{"headline": "ok"}]


def test_in_a_kernel_a_course_error_stops_the_cell_with_its_one_line(monkeypatch):
    monkeypatch.setattr(cli, "_in_jupyter_kernel", lambda: True)

    def main(argv=None):
        raise BadInput("--n must be at least 1", "pass --n 100")

    with pytest.raises(cli.CellStopped) as caught:
        cli.run(main)
    assert caught.value._render_traceback_() == [f"error: {BadInput('--n must be at least 1', 'pass --n 100')}"]


def test_outside_a_kernel_run_still_exits():
    with pytest.raises(SystemExit) as caught:
        cli.run(lambda: {"headline": "ok"})
    assert caught.value.code == 0


def normalised(text: str, uri: str) -> list[str]:
    """Output lines with the database path, numbers and table padding taken out (timings differ per run)."""
    text = text.replace(uri, "<uri>")
    text = re.sub(r"\d+(?:[.,]\d+)*", "#", text)
    # 2.2's cost-ratio rule picks by measured time, so whether its pick misses the target differs between runs
    text = text.replace(" — misses the target", "")
    return [re.sub(r"[ -]+", " ", line).strip() for line in text.splitlines() if line.strip()]


def script_output(lesson, uri: str, cwd) -> str:
    done = subprocess.run(
        [sys.executable, str(lesson.path), *FLAGS.get(lesson.id, [])],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MILVUS_URI": uri},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def notebook_outputs(lesson, uri: str, monkeypatch) -> tuple[str, list]:
    monkeypatch.setenv("MILVUS_URI", uri)  # the kernel inherits it
    nb = notebooks.to_notebook(lesson)
    last = next(cell for cell in reversed(nb.cells) if cell.cell_type == "code")
    assert "cli.run(main)" in last.source, last.source
    if lesson.id in FLAGS:
        last.source = last.source.replace("cli.run(main)", f"cli.run(main, {FLAGS[lesson.id]!r})")
    # the kernel starts in the repository, as it does for a notebook opened from notebooks/
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    return stdout, outputs


@pytest.mark.parametrize("lesson", EXECUTED, ids=ids(EXECUTED))
def test_the_notebook_runs_and_prints_what_the_script_prints(lesson, tmp_path, monkeypatch):
    """The script from a folder outside the repository, then the notebook over the same database: the second run
    finds the first one's collections, so this is also the lesson's rerun (idempotent, independent of cwd)."""
    uri, elsewhere = str(tmp_path / "db" / "course.db"), tmp_path / "elsewhere"
    (tmp_path / "db").mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    expected = script_output(lesson, uri, cwd=elsewhere)
    stdout, outputs = notebook_outputs(lesson, uri, monkeypatch)
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type == "display_data"]
    assert len(figures) == 1 and "'headline':" in figures[0].data["text/plain"], "the last cell shows main()'s figures"
    assert normalised(stdout, uri) == normalised(expected, uri)
