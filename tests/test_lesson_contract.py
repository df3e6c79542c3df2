"""What every lesson file promises a reader (no engine needed).

- the Milvus calls a lesson is about are in the lesson, and the docs show them
  (a marked region per lesson, copied into docs/ and kept identical);
- lesson functions fit on a screen;
- nothing points at material a learner does not have.
"""

import ast
import re
from pathlib import Path

from common.config import REPO_ROOT
from course.curriculum import discover
from course.docs_code import DOCS, references, regions, sync

import pytest

MAX_FUNCTION_LINES = 60
LESSONS = discover()


def test_no_lesson_function_is_longer_than_a_screen():
    too_long = []
    for lesson in LESSONS:
        tree = ast.parse(lesson.path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{lesson.name}:{node.lineno} {node.name}() has {length} lines")
    assert not too_long, "\n".join(too_long)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_lesson_code_is_shown_in_its_docs(lesson):
    marked = regions(lesson.path)
    assert marked, f"{lesson.name} marks no '# docs:begin NAME' region"
    shown = {name for doc in DOCS.glob("*.md") for _, path, name in references(doc) if path == lesson.name}
    assert shown, f"no docs chapter shows code from {lesson.name} (<!-- code: {lesson.name}#NAME -->)"
    assert shown <= set(marked), f"docs name regions {sorted(shown - set(marked))} that {lesson.name} lacks"


def test_docs_blocks_are_identical_to_the_lessons():
    problems = [problem for doc in sorted(DOCS.glob("*.md")) for problem in sync(doc, write=False)]
    assert not problems, "\n".join(problems) + "\nrun: python -m course.docs_code"


def test_a_changed_lesson_is_caught(tmp_path, monkeypatch):
    """The check above can fail: a doc whose block no longer matches its lesson is reported."""
    lesson = tmp_path / "step09_x" / "01_y.py"
    lesson.parent.mkdir()
    lesson.write_text("x = 1\n# docs:begin part\nclient.search(collection_name='c', limit=3)\n# docs:end\n")
    doc = tmp_path / "docs.md"
    doc.write_text(
        "<!-- code: step09_x/01_y.py#part -->\n```python\nclient.search(collection_name='c', limit=5)\n```\n"
    )
    monkeypatch.setattr("course.docs_code.REPO_ROOT", tmp_path)
    assert sync(doc, write=False) == ["docs.md:1: the block for step09_x/01_y.py#part differs from the lesson"]
    sync(doc, write=True)
    assert sync(doc, write=False) == []
    assert "limit=3" in doc.read_text()


# The words are assembled here so that this file does not match its own check.
UNFOLLOWABLE = [
    re.compile(p, re.IGNORECASE)
    for p in (r"\bgu" + r"ide\b", "DESIGN" + r"\.md", r"\bthe iss" + r"ue\b", r"\biss" + r"ue\s*#?\d")
]


def test_nothing_points_at_material_a_learner_does_not_have():
    files = [
        p
        for folder in ("common", "tests", "docs")
        for p in (REPO_ROOT / folder).rglob("*")
        if p.suffix in (".py", ".md")
    ]
    files += [lesson.path for lesson in LESSONS] + [REPO_ROOT / "README.md"]
    hits = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(p.search(line) for p in UNFOLLOWABLE):
                hits.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)


# The calls the course teaches. Wherever one is first used in the course, it is written with
# keyword arguments, one comment per argument line, so a reader learns what each argument does.
TAUGHT = (
    "MilvusClient",
    "create_schema",
    "add_field",
    "prepare_index_params",
    "add_index",
    "create_collection",
    "insert",
    "flush",
    "create_index",
    "load_collection",
    "search",
    "query",
    "get",
    "upsert",
    "delete",
    "create_partition",
    "load_partitions",
    "hybrid_search",
    "AnnSearchRequest",
    "query_iterator",
    "create_alias",
    "alter_alias",
    "create_role",
    "grant_privilege",
    "create_user",
)


TAKES_NO_ARGUMENTS = {"prepare_index_params"}
RECEIVERS = {"client", "MilvusClient", "schema", "index_params"}  # the names lessons give these objects


def call_name(node: ast.Call) -> str | None:
    """``client.search(...)`` → "search"; ``AnnSearchRequest(...)`` → "AnnSearchRequest"; other calls → None."""
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in RECEIVERS:
        return func.attr
    return None


def first_uses() -> list[tuple[int, int, str, object, ast.Call]]:
    """(lesson index, line, call name, lesson, node) of each taught call's first use, in course order."""
    found = {}
    for index, lesson in enumerate(LESSONS):
        for node in ast.walk(ast.parse(lesson.path.read_text())):
            if isinstance(node, ast.Call) and call_name(node) in TAUGHT:
                key = (index, node.lineno, call_name(node), lesson, node)
                found[key[2]] = min(found.get(key[2], key), key, key=lambda k: (k[0], k[1]))
    return sorted(found.values(), key=lambda k: (k[0], k[1]))


def test_every_taught_call_is_used_in_some_lesson():
    assert {use[2] for use in first_uses()} == set(TAUGHT)


def test_first_use_of_each_call_comments_its_arguments():
    """At a call's first use every keyword argument carries a comment, unless an earlier first use explained it."""
    explained: set[str] = set()
    problems = []
    for _, _, call, lesson, node in first_uses():
        lines = lesson.path.read_text().splitlines()
        if not node.keywords and call not in TAKES_NO_ARGUMENTS:
            problems.append(f"{lesson.name}:{node.lineno}: the first {call}() passes no keyword arguments")
        for keyword in node.keywords:
            if "#" in lines[keyword.lineno - 1]:
                explained.add(keyword.arg)
            elif keyword.arg not in explained:
                problems.append(f"{lesson.name}:{keyword.lineno}: first {call}(): {keyword.arg}= has no comment")
    assert not problems, "\n".join(problems)


def test_readme_and_docs_exist():
    assert (REPO_ROOT / "README.md").exists() and any(Path(DOCS).glob("step0*.md"))
