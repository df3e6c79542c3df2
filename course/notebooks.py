"""Open the lessons as Jupyter notebooks; each lesson's .py stays the only source.

``python -m course.notebooks`` (``make notebooks``) writes ``notebooks/<step>/<lesson>.ipynb`` for
every lesson (or those named: ``1``, ``1.3``), replacing what an earlier run wrote there.

A lesson marks its cells with jupytext's percent markers, outside any docs region:

    # %% [markdown]
    \"\"\"
    The module docstring: it becomes the notebook's first (Markdown) cell.
    \"\"\"

    # %%
    import ...

    # %% [markdown]
    # ## A section's heading

    # %%
    def section(...): ...

A lesson without markers converts too (jupytext's light format: one cell per block of code).
Either way jupytext reads the .py into cells and writes it back byte for byte (the tests check
every lesson), so a notebook is a view of the script: edit the .py, then run ``make notebooks``.

Each notebook starts with one generated cell that finds the course folder (the clone the notebook
sits in, or ``./milvus-course`` beside it, as in Colab), puts it on ``sys.path`` and sets ``__file__``
to the lesson's path, so the lesson runs as it does as a script; its last cell,
``cli.run(main)``, runs ``main([])`` in the kernel and displays the figures it returns.

A notebook whose cells were changed by hand since this wrote it is not written over (``--force`` does);
running a notebook changes only its outputs, which are not kept.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
from pathlib import Path

from common import cli
from common.config import REPO_ROOT
from common.errors import CourseError
from course.curriculum import Lesson, discover, select

import jupytext
import nbformat

NOTEBOOKS = REPO_ROOT / "notebooks"
PERCENT = re.compile(r"^# %%( \[markdown\])?$", re.MULTILINE)
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
GENERATED = "course-setup"  # the tag of the generated first cell
STAMP = "milvus_course"  # notebook metadata: the lesson it came from and a hash of the cells written

SETUP = """\
# Generated from {source} by `make notebooks`: edit the .py, not this notebook.
# This cell finds the course folder (this clone, or ./milvus-course as in Colab) so that `common`
# imports and the lesson reads its files as it does when run as a script.
import sys
from pathlib import Path

for _root in [Path.cwd(), *Path.cwd().parents, Path.cwd() / "milvus-course"]:
    if (_root / "common" / "cli.py").is_file():
        break
else:
    raise FileNotFoundError("open this notebook inside the course folder, or clone it to ./milvus-course")
if str(_root) not in sys.path:
    sys.path.insert(0, str(_root))
__file__ = str(_root / "{source}")
"""


def text_format(text: str) -> str:
    """jupytext's format for a lesson: percent where it marks its cells, light otherwise."""
    return "py:percent" if PERCENT.search(text) else "py:light"


def read_lesson(path: Path) -> nbformat.NotebookNode:
    """The lesson's cells, exactly as jupytext reads them."""
    text = path.read_text(encoding="utf-8")
    return jupytext.reads(text, fmt=text_format(text))


def round_trip(path: Path) -> str:
    """The lesson as jupytext writes it back from its cells (equal to the file when nothing is lost)."""
    text = path.read_text(encoding="utf-8")
    return jupytext.writes(jupytext.reads(text, fmt=text_format(text)), fmt=text_format(text))


def docstring_markdown(source: str) -> str:
    """The module docstring as Markdown: its first line a title, its other lines kept as they break."""
    lines = source.strip("\n").splitlines()
    title, rest = lines[0].strip(), lines[1:]
    # Two trailing spaces keep a line break ("Run   python ...", "Docs   ...") that Markdown would join
    body = [line.rstrip() + "  " if line.strip() else "" for line in rest]
    return "\n".join([f"# {title}", *body]).rstrip()


def is_docstring_cell(cell) -> bool:
    """A code cell (the light format's first) that holds only a string literal."""
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:
        return False
    return len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def to_notebook(lesson: Lesson) -> nbformat.NotebookNode:
    """The notebook of one lesson: a setup cell, then the lesson's own cells."""
    nb = read_lesson(lesson.path)
    first = nb.cells[0]
    if first.cell_type == "code" and is_docstring_cell(first):
        first = nbformat.v4.new_markdown_cell(ast.literal_eval(first.source))
    if first.cell_type == "markdown":
        nb.cells[0] = nbformat.v4.new_markdown_cell(docstring_markdown(first.source))
    setup = nbformat.v4.new_code_cell(SETUP.format(source=lesson.name).rstrip("\n"), metadata={"tags": [GENERATED]})
    nb.cells.insert(1 if nb.cells[0].cell_type == "markdown" else 0, setup)
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)
        cell.metadata.pop("cell_marker", None)
    stamp = {"generated_from": lesson.name, "cells_sha256": cells_digest(nb)}
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}, STAMP: stamp}
    nbformat.validate(nb)
    return nb


def cells_digest(nb) -> str:
    """A hash of the cells' types and sources (not their outputs: running a notebook changes nothing here)."""
    cells = [[cell.cell_type, cell.source] for cell in nb.cells]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def hand_edited(path: Path) -> str | None:
    """Why writing over ``path`` would lose someone's work, or None when it holds only what we wrote."""
    if not path.exists():
        return None
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # anything unreadable is not ours to replace
        return "not a notebook"
    stamp = nb.metadata.get(STAMP, {})
    if not stamp:
        return "not written by make notebooks"
    return None if stamp.get("cells_sha256") == cells_digest(nb) else "edited since make notebooks wrote it"


def target_of(lesson: Lesson, out: Path) -> Path:
    return out / lesson.path.parent.name / lesson.path.with_suffix(".ipynb").name


def write_notebooks(lessons: list[Lesson], out: Path = NOTEBOOKS, force: bool = False) -> list[Path]:
    """Write one notebook per lesson under ``out/<step folder>/``; return their paths.

    A notebook someone changed by hand (its cells differ from what this wrote) is never written over
    unless ``force``: nothing is written then, and the error names each one.
    """
    kept = [f"{target_of(lesson, out)} ({why})" for lesson in lessons if (why := hand_edited(target_of(lesson, out)))]
    if kept and not force:
        raise CourseError(
            f"{len(kept)} notebook(s) would be written over: {', '.join(kept)}",
            "move your changes into the lesson's .py (the source) or elsewhere and run again, "
            "or write over them: make notebooks FORCE=1 (--force)",
        )
    written = []
    for lesson in lessons:
        target = target_of(lesson, out)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".ipynb.partial")
        nbformat.write(to_notebook(lesson), partial)
        partial.replace(target)  # a notebook is either the old one or the new one, never half-written
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", help="steps (1) or lessons (1.3); default: every lesson")
    parser.add_argument("--out", type=Path, default=NOTEBOOKS, help="folder to write into (default notebooks/)")
    parser.add_argument("--force", action="store_true", help="write over notebooks that were changed by hand")
    args = parser.parse_args(argv)
    lessons = select(discover(), args.lessons)
    for path in write_notebooks(lessons, args.out, force=args.force):
        print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
    print(f"{len(lessons)} notebooks in {args.out}; open them with Jupyter, VS Code or Colab (see README)")
    return 0


if __name__ == "__main__":
    cli.run(main)
