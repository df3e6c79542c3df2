"""The docs a learner reads: every command they show exists, every chapter has its learning path, figures
render from committed files, and one term is used per concept."""

import re

from common.config import REPO_ROOT
from course.curriculum import discover

import pytest

from tests.test_lesson_options import lesson_parser

DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
CHAPTERS = sorted((REPO_ROOT / "docs").glob("step0*.md"))
# Flags of other tools that the docs show (docker compose, helm, pip, promtool, milvus-server, check-jsonschema,
# milvus-backup)
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
    "--reset-then-reuse-values",
    "--strategy",
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
    """Prose only: no fenced blocks (real output), no inline code, no HTML comments (markers)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = re.sub(r"<!--.*?-->", "", prose, flags=re.S)
    return re.sub(r"`[^`]*`", "", prose)


def flat(text: str) -> str:
    """Whitespace, line breaks included, as single spaces: a term split across two lines is still found."""
    return re.sub(r"\s+", " ", text)


# One term per concept (see the glossary in docs/00_theory.md): the words on the left are not used.
NOT_USED = {
    "색인": "인덱스",
    "패시지": "청크",
    "오브젝트 스토리지": "객체 저장소",
    "거리 지표": "거리 척도",
    "쿼리 캐시": "질의 캐시",
    "재현률": "재현율",
}
# Phrases that read as translated English, not as Korean an engineer writes (and authoring notes).
LITERAL = (
    "가장 적은 일",
    "정직한 약점",
    "접어 넣",
    "탐침 검색",
    "이미 출발한 질의",
    "말없이 버",
    "수위에 걸렸",
    "이 세션의",  # an authoring note ("이 세션의 테스트 환경에는 ...")
)


def test_one_term_per_concept_and_a_glossary():
    assert "## 용어집" in (REPO_ROOT / "docs/00_theory.md").read_text()
    found = [
        f"{path.name}: '{word}' (use '{instead}')"
        for path in DOCS
        for word, instead in NOT_USED.items()
        if word in flat(outside_code(path.read_text()))
    ]
    found += [f"{path.name}: '{phrase}'" for path in DOCS for phrase in LITERAL if phrase in flat(path.read_text())]
    bare = [path.name for path in DOCS if re.search(r"(?<!\()held-out", outside_code(path.read_text()))]
    assert not found and not bare, found + bare


def test_the_term_check_sees_a_term_split_across_lines():
    text = "세그먼트는 오브젝트\n  스토리지에 있습니다. `오브젝트 스토리지`"
    assert "오브젝트 스토리지" in flat(outside_code(text)) and "오브젝트 스토리지" not in outside_code(text)


def test_each_glossary_term_is_defined_once():
    glossary = (REPO_ROOT / "docs/00_theory.md").read_text().split("## 용어집")[1].split("\n## ")[0]
    rows = re.findall(r"^\| ([^|]+?) \|", glossary, re.M)
    words = [word.strip() for row in rows[1:] for word in re.split(r" / ", re.sub(r"\(.*?\)", "", row))]
    assert len(words) == len(set(words)), sorted(w for w in words if words.count(w) > 1)


def test_metric_words_are_not_mixed():
    """거리 척도 (L2/IP/COSINE), 평가 지표 (recall, MRR), 메트릭 (Prometheus): '지표' alone is only the second;
    '메트릭' never names a distance; 재현율 is the classifier's recall (3.5), recall@k the ANN one."""
    loose = []
    for path in DOCS:
        prose = outside_code(path.read_text())
        for chunk in re.split(r"\n(?=\s*(?:[-*|>]|\d+\.))|\n\s*\n", prose):  # list items, table rows, paragraphs
            sentence = flat(chunk).strip()
            if re.search(r"(?<!평가 )(?<!품질 )지표", sentence):
                loose.append(f"{path.name}: {sentence[:60]}")
            if "메트릭" in sentence and "거리 척도" not in sentence and re.search(r"\b(L2|IP|COSINE)\b", sentence):
                loose.append(f"{path.name}: 메트릭 for a distance: {sentence[:60]}")
            if re.search(r"재현율\s*\(?\s*recall@|recall@\w+\s*\(재현율", sentence):
                loose.append(f"{path.name}: 재현율 for recall@k: {sentence[:60]}")
    assert not loose, loose


def test_every_output_block_has_a_marker_and_a_header():
    from course.docs_output import main as docs_output

    assert docs_output(["--check"]) == 0


# A measured figure in the prose: a number with a unit or a count word, or a decimal below 1 (a share, a recall).
MEASURED = re.compile(
    r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)(?:\s?여)?\s?(?:ms|µs|×|배|%|MB|MiB|GiB|GB|KB|초|분|개|행|건|번|명|쌍)"
    r"(?![A-Za-z0-9_])"
    r"|(?<![\w.])(-?0\.\d{2,}|-\d+\.\d+)(?![A-Za-z0-9_.]|\.\d)"
)
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def numbers(text: str) -> list[float]:
    found = []
    for token in NUMBER.findall(text):
        try:
            found.append(float(token.replace(",", "")))
        except ValueError:
            continue
    return found


def stated_by(number: str, unit: str, sources: list[float]) -> bool:
    """The prose number is one of the sources, as written or rounded to the decimals the prose shows
    (0.62 for 0.6207); a percentage may be a share the source prints as a fraction (73% for 0.73)."""
    value = float(number.replace(",", ""))
    decimals = len(number.split(".")[1]) if "." in number else 0
    candidates = sources + ([100 * x for x in sources] if unit.endswith("%") else [])
    return any(abs(round(x, decimals) - value) < 10 ** -(decimals + 3) for x in candidates)


def lesson_defaults(section: str) -> list[float]:
    """The numeric defaults and choices of the lessons a section names (the prose may quote a lesson's own setting),
    and the numbers in the task text of the exercises it names (the exercise files state them)."""
    values = [
        number
        for name in set(re.findall(r"exercises/step0\d/\w+\.py", section))
        if (REPO_ROOT / name).is_file()
        for number in numbers((REPO_ROOT / name).read_text().split('"""')[1])
    ]
    for lesson in discover():
        if lesson.name in section:
            for action in lesson_parser(lesson)._actions:
                for value in [action.default, *(action.choices or [])]:
                    for item in value if isinstance(value, (list, tuple)) else [value]:
                        if isinstance(item, (int, float)) and not isinstance(item, bool):
                            values.append(float(item))
    return values


def unsourced_numbers(text: str) -> list[str]:
    from course.docs_output import output_blocks

    def block_text(part: str) -> str:
        lines = part.split("\n")
        return "\n".join("\n".join(lines[fence + 1 : lines.index("```", fence + 1)]) for fence in output_blocks(part))

    stale = []
    for section in re.split(r"\n(?=## )", text):
        # the summary and the self-check answers sum up the whole chapter: any of its blocks may be their source
        whole = section.startswith(("## 핵심 정리", "## 확인 문제"))
        sources = numbers(block_text(text if whole else section)) + lesson_defaults(section)
        prose = outside_code(section)
        for match in MEASURED.finditer(prose):
            number = match[1] or match[2]
            target = prose[: match.start()].rstrip().endswith(("≥", "≤", "±", "<", ">"))  # a target, not a figure
            if not target and not stated_by(number, match[0][len(number) :].strip(), sources):
                stale.append(f"{section.split(chr(10))[0]}: {match[0]}")
    return stale


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_prose_quotes_only_numbers_from_the_output_next_to_it(chapter):
    """A measured number in the prose must stand in an output block of the same section (a captured server block
    counts like any other), or be a default of the lesson the section shows; settings are written as code with
    their key. So a refresh (make docs-output) that changes a number makes this test fail until the prose follows."""
    stale = unsourced_numbers(chapter.read_text())
    assert not stale, stale


def test_the_number_check_fails_on_a_figure_in_no_block():
    section = (
        "## 09 x\n\n<!-- output: 1.4 -->\n```\n$ python x.py\nrecall@10 0.9405; p50 2.70 ms\n```\n\n"
        "recall 0.94 and p50 2.7 ms come from the block; the server gave hit@5 0.62, 약 200배, 270여 개 and 85%.\n"
    )
    assert unsourced_numbers(section) == ["## 09 x: 0.62", "## 09 x: 200배", "## 09 x: 270여 개", "## 09 x: 85%"]
    assert unsourced_numbers(section.replace("0.9405", "0.9455"))[:1] == ["## 09 x: 0.94"]  # 0.9455 rounds to 0.95


def self_checks(text: str) -> list[tuple[str, str]]:
    """(question, the answer folded under it) for every numbered line of a chapter's 확인 문제."""
    part = text.split("## 확인 문제")[1].split("\n## ")[0]
    items = re.split(r"\n(?=\d+\. )", "\n" + part)
    found = []
    for item in items:
        if re.match(r"\d+\. ", item):
            answer = re.search(r"<details><summary>답</summary>(.*?)</details>", item, re.S)
            found.append((item.split("\n")[0], answer[1].strip() if answer else ""))
    return found


@pytest.mark.parametrize("chapter", CHAPTERS + [REPO_ROOT / "docs/00_theory.md"], ids=lambda p: p.stem)
def test_every_self_check_has_a_folded_answer_and_a_next_link(chapter):
    text = chapter.read_text()
    assert "**학습 목표**" in text and "## 확인 문제" in text
    checks = self_checks(text)
    assert len(checks) >= 3, checks
    unanswered = [question for question, answer in checks if len(answer) < 20]
    assert not unanswered, unanswered
    after = text.split("## 확인 문제")[1].split("\n")
    assert any(line.startswith("다음:") and re.search(r"\]\([\w./-]+\.md\)", line) for line in after), "no 다음: link"


def figure_problems(texts: list[str], record: dict, img) -> list[str]:
    """What is wrong between the lesson figures in ``img``, their sidecar ``record`` and the chapters' blocks."""
    import hashlib

    from course.docs_figures import LESSON_FIGURES
    from course.docs_output import block_runs

    by_name = {lesson.name: lesson.id for lesson in discover()}
    runs: dict[str, list] = {}
    for text in texts:
        for source, ids in block_runs(text).items():
            runs.setdefault(source, []).extend(ids)
    wrong = []
    for lesson, png in LESSON_FIGURES.items():
        entry = record.get(png)
        if entry is None:
            wrong.append(f"{png}: not in figures.json (run make docs-output)")
            continue
        if entry["sha256"] != hashlib.sha256((img / png).read_bytes()).hexdigest():
            wrong.append(f"{png}: the file is not the one run {entry['run']} copied")
        if entry["run"] not in runs.get(by_name[lesson], []):
            wrong.append(f"{png}: run {entry['run']}, its block {by_name[lesson]}: {runs.get(by_name[lesson])}")
    return wrong


def test_lesson_figures_come_from_the_run_of_their_blocks():
    """Each PNG a lesson draws for docs/img was copied by the same docs-output run that wrote its lesson's
    output block (figures.json records the run and the file's SHA-256)."""
    import json

    from course.docs_figures import SIDECAR

    record = json.loads(SIDECAR.read_text()) if SIDECAR.exists() else {}
    wrong = figure_problems([path.read_text() for path in CHAPTERS], record, SIDECAR.parent)
    assert not wrong, wrong


def test_a_figure_from_another_run_than_its_block_is_caught(tmp_path, monkeypatch):
    """copy_lesson_figures records the run; the check passes for that run and fails for another or a swapped PNG."""
    from course import docs_figures

    monkeypatch.setattr(docs_figures, "IMG", tmp_path / "img")
    monkeypatch.setattr(docs_figures, "SIDECAR", tmp_path / "img" / "figures.json")
    monkeypatch.setattr(docs_figures, "LESSON_FIGURES", {"step02_core_features/01_index_comparison.py": "a.png"})
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "a.png").write_bytes(b"figure of run one")
    docs_figures.copy_lesson_figures(tmp_path / "reports", "RUN1", {"step02_core_features/01_index_comparison.py"})
    record = docs_figures.sidecar()
    block = "<!-- output: 2.1 -->\n```\n$ python x.py   # Milvus Lite 3.2.2, pymilvus 3.0.2, 2026-12-01, run {}\n```\n"
    assert figure_problems([block.format("RUN1")], record, tmp_path / "img") == []
    assert figure_problems([block.format("RUN2")], record, tmp_path / "img") == [
        "a.png: run RUN1, its block 2.1: ['RUN2']"
    ]
    (tmp_path / "img" / "a.png").write_bytes(b"figure of another run")
    assert "a.png: the file is not the one run RUN1 copied" in figure_problems(
        [block.format("RUN1")], record, tmp_path / "img"
    )


def test_each_exercise_template_and_solution_state_the_same_task():
    """The task text is written once per exercise and must not drift between exercises/ and solutions/."""
    from course.grader import EXERCISES

    for exercise in EXERCISES:
        template = (REPO_ROOT / "exercises" / exercise.file).read_text()
        solution = (REPO_ROOT / "solutions" / exercise.file).read_text()
        assert template.split('"""')[1] == solution.split('"""')[1], exercise.id
        assert f"make check EX={exercise.id}" in template and "raise NotImplementedError" in template, exercise.id
        assert "NotImplementedError" not in solution, exercise.id
