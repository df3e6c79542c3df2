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
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from common import cli
from common.config import REPO_ROOT
from course.curriculum import Lesson, discover, select

import jupytext
import nbformat

NOTEBOOKS = REPO_ROOT / "notebooks"
PERCENT = re.compile(r"^# %%( \[markdown\])?$", re.MULTILINE)
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
GENERATED = "course-setup"  # the tag of the generated first cell

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
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)
        cell.metadata.pop("cell_marker", None)
    nbformat.validate(nb)
    return nb


def write_notebooks(lessons: list[Lesson], out: Path = NOTEBOOKS) -> list[Path]:
    """Write one notebook per lesson under ``out/<step folder>/``; return their paths."""
    written = []
    for lesson in lessons:
        target = out / lesson.path.parent.name / lesson.path.with_suffix(".ipynb").name
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
    args = parser.parse_args(argv)
    lessons = select(discover(), args.lessons)
    for path in write_notebooks(lessons, args.out):
        print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
    print(f"{len(lessons)} notebooks in {args.out}; open them with Jupyter, VS Code or Colab (see README)")
    return 0


if __name__ == "__main__":
    cli.run(main)
