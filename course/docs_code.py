"""Keep the code shown in docs/ identical to the lessons it comes from.

A lesson marks the part a reader should see in the docs:

    # docs:begin create-collection
    client.create_collection(...)
    # docs:end

and a chapter in docs/ names it right before a ```python block:

    <!-- code: step01_basics/04_insert_and_search.py#create-collection -->

``python -m course.docs_code`` rewrites every such block from its lesson;
``python -m course.docs_code --check`` (and the tests) report every block
that differs, so the docs cannot drift from the code.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

from common.config import REPO_ROOT

DOCS = REPO_ROOT / "docs"
BEGIN = re.compile(r"^\s*# docs:begin (\S+)\s*$")
END = re.compile(r"^\s*# docs:end\s*$")
REFERENCE = re.compile(r"^<!-- code: (\S+?)#(\S+) -->\s*$")


def regions(path: Path) -> dict[str, str]:
    """The marked regions of one lesson file, dedented, keyed by name."""
    found: dict[str, str] = {}
    name, lines = None, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if (match := BEGIN.match(line)) is not None:
            if name is not None:
                raise ValueError(f"{path}:{number}: docs:begin {match[1]} inside region {name}")
            name, lines = match[1], []
        elif END.match(line):
            if name is None:
                raise ValueError(f"{path}:{number}: docs:end without docs:begin")
            if name in found:
                raise ValueError(f"{path}: region {name} is defined twice")
            found[name] = textwrap.dedent("\n".join(lines)).strip("\n")
            name = None
        elif name is not None:
            lines.append(line)
    if name is not None:
        raise ValueError(f"{path}: region {name} has no docs:end")
    return found


def references(doc: Path) -> list[tuple[int, str, str]]:
    """(line index, lesson path, region name) for every code reference in a doc."""
    out = []
    for index, line in enumerate(doc.read_text().splitlines()):
        if (match := REFERENCE.match(line)) is not None:
            out.append((index, match[1], match[2]))
    return out


def sync(doc: Path, write: bool) -> list[str]:
    """Compare (or rewrite) every referenced block in ``doc``; return the problems found."""
    lines = doc.read_text().splitlines()
    problems, cache = [], {}
    for index, lesson, name in reversed(references(doc)):
        where = f"{doc.relative_to(REPO_ROOT)}:{index + 1}"
        path = REPO_ROOT / lesson
        if not path.exists():
            problems.append(f"{where}: {lesson} does not exist")
            continue
        code = cache.setdefault(lesson, regions(path)).get(name)
        if code is None:
            problems.append(f"{where}: {lesson} has no region '{name}'")
            continue
        wanted = ["```python", *code.splitlines(), "```"]
        start = index + 1
        end = start
        if start < len(lines) and lines[start].startswith("```"):
            end = start + 1
            while end < len(lines) and lines[end] != "```":
                end += 1
            end += 1
        if lines[start:end] != wanted:
            problems.append(f"{where}: the block for {lesson}#{name} differs from the lesson")
            lines[start:end] = wanted
    if write:
        doc.write_text("\n".join(lines) + "\n")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report blocks that differ (exit 1 if any)")
    args = parser.parse_args(argv)
    problems = []
    for doc in sorted(DOCS.glob("*.md")):
        problems += sync(doc, write=not args.check)
    for problem in problems:
        print(problem)
    if args.check:
        return 1 if problems else 0
    print(f"updated {len(problems)} block(s)" if problems else "docs code blocks are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
