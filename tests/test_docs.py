"""The docs a learner reads: every command they show exists, every chapter has its learning path, figures
render from committed files, and one term is used per concept."""

import re

from common.config import REPO_ROOT

import pytest

from course.curriculum import discover
from tests.test_lesson_options import lesson_parser

DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
CHAPTERS = sorted((REPO_ROOT / "docs").glob("step0*.md"))
# Flags of other tools that the docs show (docker compose, helm, pip, promtool, milvus-server, check-jsonschema)
OTHER_TOOLS = {
    "--profile",
    "--wait",
    "--version",
    "--config",
    "--builtin-schema",
    "--tls-mode",
    "--help",
    "--authorization-enabled",
    "--index-url",
    "--set",
    "--namespace",
    "--kube-version",
    "--from-literal",
}
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def lesson_flags() -> dict[str, set[str]]:
    return {
        lesson.name: {option for action in lesson_parser(lesson)._actions for option in action.option_strings}
        for lesson in discover()
    }


def test_every_flag_the_docs_show_exists():
    known = set().union(*lesson_flags().values()) | OTHER_TOOLS
    missing = [
        f"{path.name}: {flag}"
        for path in DOCS + [REPO_ROOT / "README.md"]
        for flag in FLAG.findall(path.read_text())
        if flag not in known
    ]
    assert not missing, missing


def test_every_flag_a_lesson_docstring_shows_is_its_own():
    flags = lesson_flags()
    wrong = []
    for lesson in discover():
        doc = lesson.path.read_text().split('"""')[1]
        wrong += [
            f"{lesson.name}: {flag}" for flag in FLAG.findall(doc) if flag not in flags[lesson.name] | OTHER_TOOLS
        ]
    assert not wrong, wrong


def test_every_make_target_the_docs_and_lessons_show_exists():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO_ROOT / "Makefile").read_text(), re.M))
    texts = [p.read_text() for p in DOCS + [REPO_ROOT / "README.md"]] + [
        lesson.path.read_text() for lesson in discover()
    ]
    shown = {target for text in texts for target in re.findall(r"`make ([a-z][a-z-]*)", text)}
    shown |= {
        target
        for text in texts
        for block in re.findall(r"```bash\n(.*?)```", text, re.S)
        for target in re.findall(r"^make ([a-z][a-z-]*)", block, re.M)
    }
    assert shown and shown <= targets, shown - targets


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_a_learning_path(chapter):
    text = chapter.read_text()
    assert "**학습 목표**" in text and "**선수 지식**" in text
    for section in ("## 핵심 정리", "## 확인 문제", "## 연습"):
        assert section in text, section
    questions = text.split("## 확인 문제")[1].split("\n## ")[0]
    numbered = re.findall(r"^\d+\. .*\(레슨 \d\.\d", questions, re.M)
    assert len(numbered) >= 3, "each self-check question names the lesson that answers it"
    exercises = text.split("## 연습")[1].split("\n## ")[0]
    assert re.search(r"python step0\d_\w+/\d\d_\w+\.py --", exercises), "an exercise runs a lesson with real flags"


def test_figures_are_committed_files_linked_relatively():
    links = [(path, target) for path in DOCS for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text())]
    assert len(links) >= 6
    for path, target in links:
        assert not target.startswith(("http", "/", "../")), (path.name, target)
        assert (path.parent / target).is_file(), (path.name, target)


def outside_code(text: str) -> str:
    """Prose only: no fenced blocks (real output), no inline code."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`]*`", "", prose)


# One term per concept (see the glossary in docs/00_theory.md): the words on the left are not used.
NOT_USED = {"색인": "인덱스", "패시지": "청크", "오브젝트 스토리지": "객체 저장소", "거리 지표": "거리 척도"}


def test_one_term_per_concept_and_a_glossary():
    assert "## 용어집" in (REPO_ROOT / "docs/00_theory.md").read_text()
    found = [
        f"{path.name}: '{word}' (use '{instead}')"
        for path in DOCS
        for word, instead in NOT_USED.items()
        if word in outside_code(path.read_text())
    ]
    bare = [path.name for path in DOCS if re.search(r"(?<!\()held-out", outside_code(path.read_text()))]
    assert not found and not bare, found + bare


def test_metric_words_are_not_mixed():
    """거리 척도 (L2/IP/COSINE), 평가 지표 (recall, MRR), 메트릭 (Prometheus): '지표' alone is only the second."""
    loose = [
        f"{path.name}: {line.strip()[:60]}"
        for path in DOCS
        for line in outside_code(path.read_text()).split("\n")
        if re.search(r"(?<!평가 )(?<!품질 )지표", line)
    ]
    assert not loose, loose


def test_every_output_block_has_a_marker_and_a_header():
    from course.docs_output import main as docs_output

    assert docs_output(["--check"]) == 0


# Values the prose states on purpose that are settings, not measurements (a target, a limit, a filter's share);
# a number right after ≥, ≤, ±, < or > is a target too.
SETTINGS = {"0.95", "0.75", "0.05", "1%", "60%", "85%", "64 MB", "16 GiB", "6초", "0.05초", "0.25초"}
MEASURED = re.compile(
    r"(?<![\w.])(-?\d+(?:\.\d+)?)\s?(?:ms|×|%|MB|MiB|GiB|초)(?![A-Za-z0-9_.])"
    r"|(?<![\w.])(-?0\.\d{2,}|-\d+\.\d+)(?![A-Za-z0-9_.]|\.\d)"
)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_prose_quotes_only_numbers_from_the_output_next_to_it(chapter):
    """A measured number in the prose must stand in an output block of the same section, so a refresh
    (python -m course.docs_output) that changes the number makes this test fail until the prose follows."""
    from course.docs_output import output_blocks

    stale = []
    for section in re.split(r"\n(?=## )", chapter.read_text()):
        lines = section.split("\n")
        blocks = "\n".join(
            "\n".join(lines[fence + 1 : lines.index("```", fence + 1)]) for fence in output_blocks(section)
        )
        prose = outside_code(section)
        for match in MEASURED.finditer(prose):
            number = match[1] or match[2]
            target = prose[: match.start()].rstrip().endswith(("≥", "≤", "±", "<", ">"))  # a target, not a figure
            if (
                not target
                and match[0] not in SETTINGS
                and not re.search(rf"(?<![\d.]){re.escape(number)}\d*(?![\d.])", blocks)
            ):
                stale.append(f"{section.split(chr(10))[0]}: {match[0]}")
    assert not stale, stale


def test_each_exercise_template_and_solution_state_the_same_task():
    """The task text is written once per exercise and must not drift between exercises/ and solutions/."""
    from course.grader import EXERCISES

    for exercise in EXERCISES:
        template = (REPO_ROOT / "exercises" / exercise.file).read_text()
        solution = (REPO_ROOT / "solutions" / exercise.file).read_text()
        assert template.split('"""')[1] == solution.split('"""')[1], exercise.id
        assert f"make check EX={exercise.id}" in template and "raise NotImplementedError" in template, exercise.id
        assert "NotImplementedError" not in solution, exercise.id
