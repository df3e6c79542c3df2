"""The output blocks in docs/step0*.md, captured from a real run and refreshed by one command.

    python -m course.docs_output           # run every step once on a fresh Milvus Lite file, rewrite the blocks
    python -m course.docs_output 2 4       # only the chapters of steps 2 and 4
    python -m course.docs_output --check   # every output block has its marker and header (no run; the tests)

Each output block in a chapter sits under a marker comment that says where its text comes from::

    <!-- output: 2.1 from="== 3. Results" to="== 5." -->     lesson 2.1's output, from one line to (not incl.) another
    <!-- output: summary -->                                  the step's summary table from the curriculum runner
    <!-- output: 3.1 env="EMBEDDING_MODEL=/no/such/model" rc="2" -->  lesson 3.1 run alone with a variable set;
                                                          it is expected to exit 2
    <!-- output: 5.1 needs="MILVUS_HELM_CHART" -->         run alone when that variable is set, else the block is kept
    <!-- output: 2.1 engine="server" from="== 3." -->        run alone against the embedded Milvus server (started
                                                          and stopped around the lesson; needs .venv-server)

The first line of a block is its header: the command, the engine, the pymilvus version, the date and the run id.
One run of this tool has one id (``run 20261201T0950Z``); it is written into every block it refreshes and, for the
lessons that plot, into docs/img/figures.json next to the PNG it copied from the same run (course.docs_figures), so
a test can tell a figure from another run than its block.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from common.config import REPO_ROOT
from course.curriculum import discover
from course.docs_figures import copy_lesson_figures

DOCS = REPO_ROOT / "docs"
MARKER = re.compile(r"<!-- output: (\S+)((?: \w+=\"[^\"]*\")*) -->")
HEADER = re.compile(r"^\$ .+   # Milvus .+, pymilvus \S+, \d{4}-\d\d-\d\d(?:, run (?P<run>\S+))?$")
SERVER_LINES = ("starting milvus-server", "milvus-server healthy", "milvus-server stopped")  # course.server's own
GRPC_LOG = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d")  # gRPC's own log lines (TLS handshakes): not the lesson's output
DB = ".milvus/docs-output.db"  # a fresh Milvus Lite file for the run, removed afterwards
SERVER_BIN = REPO_ROOT / ".venv-server" / "bin" / "milvus-server"  # PyPI milvus, made by make server-venv


@dataclass(frozen=True)
class Marker:
    line: int  # index of the marker line in the chapter
    source: str  # a lesson id ("2.1") or "summary"
    options: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    @property
    def runs_alone(self) -> bool:
        return any(self.get(key) is not None for key in ("env", "args", "needs", "engine"))


def markers(text: str) -> list[Marker]:
    found = []
    for index, line in enumerate(text.split("\n")):
        match = MARKER.fullmatch(line.strip())
        if match:
            found.append(Marker(index, match[1], tuple(re.findall(r"(\w+)=\"([^\"]*)\"", match[2]))))
    return found


def output_blocks(text: str) -> list[int]:
    """Line indexes of the opening fences of plain ``` blocks (output); fenced code with a language is skipped."""
    lines, opening, inside = text.split("\n"), [], False
    for index, line in enumerate(lines):
        if line.startswith("```"):
            if not inside and line == "```":
                opening.append(index)
            inside = not inside
    return opening


def problems(path: Path) -> list[str]:
    """What is wrong with a chapter's output blocks, without running anything."""
    text = path.read_text()
    lines = text.split("\n")
    by_line = {m.line: m for m in markers(text)}
    ids = {lesson.id for lesson in discover()}
    found = []
    for fence in output_blocks(text):
        marker = by_line.get(fence - 1)
        if marker is None:
            found.append(f"{path.name}:{fence + 1}: output block without an '<!-- output: ... -->' marker above it")
        elif marker.source != "summary" and marker.source not in ids:
            found.append(f"{path.name}:{marker.line + 1}: no lesson {marker.source}")
        if not HEADER.match(lines[fence + 1]):
            found.append(f"{path.name}:{fence + 2}: block header should be '$ command   # engine, pymilvus x, date'")
    return found


def run(command: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [
        line.replace(f"{REPO_ROOT}/", "") for line in done.stdout.split("\n")
    ]  # paths as a learner's clone shows them
    return done.returncode, [line for line in lines if not GRPC_LOG.match(line) and not line.startswith(SERVER_LINES)]


def split_by_lesson(lines: list[str]) -> dict[str, list[str]]:
    """The runner's output, cut at its '== [i/n] lesson ==' headings; its last '== Summary' under 'summary'."""
    last = max(i for i, line in enumerate(lines) if line.startswith("== Summary"))
    parts: dict[str, list[str]] = {
        "summary": [line for line in lines[last:] if not line.startswith(("report:", "plot:"))]
    }
    current = None
    for line in lines[:last]:
        heading = re.match(r"== \[\d+/\d+\] (\S+)", line)
        if heading:
            current = heading[1]
            parts[current] = []
        elif current:
            parts[current].append(line)
    return parts


def excerpt(lines: list[str], start: str | None, end: str | None) -> list[str]:
    begin = next((i for i, line in enumerate(lines) if line.startswith(start)), None) if start else 0
    if begin is None:
        raise SystemExit(f"error: no output line starts with {start!r}; fix the marker or the lesson")
    stop = next((i for i in range(begin + 1, len(lines)) if end and lines[i].startswith(end)), len(lines))
    chosen = [line.rstrip() for line in lines[begin:stop]]
    while chosen and not chosen[-1]:
        chosen.pop()
    return chosen


def engine_label(lines: list[str]) -> str:
    named = next((re.match(r"engine: (.+?) at ", line) for line in lines if re.match(r"engine: .+? at ", line)), None)
    return named[1] if named else f"Milvus Lite {version('milvus-lite')}"  # the lesson ran on the run's Lite file


def header(command: str, lines: list[str], run_id: str) -> str:
    return (
        f"$ {command}   # {engine_label(lines)}, pymilvus {version('pymilvus')}, {datetime.date.today()}, run {run_id}"
    )


def new_run_id() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def block_runs(text: str) -> dict[str, list[str | None]]:
    """The run id in the header of each lesson's output blocks, by lesson id (None: a header without one)."""
    lines, runs = text.split("\n"), {}
    for marker in markers(text):
        header_line = lines[marker.line + 2] if marker.line + 2 < len(lines) else ""
        match = HEADER.match(header_line)
        runs.setdefault(marker.source, []).append(match["run"] if match else None)
    return runs


def alone(marker: Marker, lesson, env: dict[str, str]) -> tuple[str, list[str]] | None:
    """Run one lesson by itself for a marker with env/args/needs; None when it cannot run here."""
    needs = marker.get("needs")
    if needs and not env.get(needs):
        print(f"  kept the block for {marker.source}: set {needs} to refresh it")
        return None
    extra = dict(item.split("=", 1) for item in shlex.split(marker.get("env", "")))
    command = [sys.executable, str(lesson.path), *shlex.split(marker.get("args", ""))]
    if marker.get("engine") == "server":  # the embedded server, started for this lesson and stopped after it
        if not SERVER_BIN.exists():
            print(f"  kept the block for {marker.source}: needs the embedded server ({SERVER_BIN}; make server-venv)")
            return None
        command = [sys.executable, "-m", "course.server", "run", "--", *command]
    code, body = run(command, {**env, **extra})
    if code != int(marker.get("rc", "0")):
        print(f"  kept the block for {marker.source}: it exited {code}\n" + "\n".join(body[-5:]))
        return None
    on_server = "MILVUS_URI=http://127.0.0.1:19530" if marker.get("engine") == "server" else ""
    shown_env = " ".join(filter(None, [marker.get("env"), on_server, f"{needs}=<chart>" if needs else ""]))
    command = " ".join(filter(None, [shown_env, "python", lesson.name, marker.get("args")]))
    return command, body


def refresh(path: Path, step: int, env: dict[str, str], run_id: str) -> None:
    """Run the step once (and any lesson that needs its own variables), then rewrite every marked block."""
    print(f"running step {step} for {path.name} ...", flush=True)
    code, output = run([sys.executable, "-m", "course.curriculum", "run", str(step)], env)
    if code != 0:
        raise SystemExit("error: a lesson failed; nothing rewritten\n" + "\n".join(output[-20:]))
    parts = split_by_lesson(output)
    lessons = {lesson.id: lesson for lesson in discover()}
    lines = path.read_text().split("\n")
    for marker in reversed(markers("\n".join(lines))):
        if marker.source == "summary":
            command, body, shown = f"make run LESSONS={step}", parts["summary"], parts["summary"]
        else:
            lesson = lessons[marker.source]
            ran = alone(marker, lesson, env) if marker.runs_alone else (f"python {lesson.name}", parts[lesson.name])
            if ran is None:
                continue
            command, body = ran
            shown = excerpt(body, marker.get("from"), marker.get("to"))
        fence = marker.line + 1
        close = next(i for i in range(fence + 1, len(lines)) if lines[i] == "```")
        lines[fence + 1 : close] = [header(command, body, run_id)] + shown
    path.write_text("\n".join(lines))
    copy_lesson_figures(Path(env["REPORTS_DIR"]), run_id, {lesson.name for lesson in discover() if lesson.step == step})


def remove_db() -> None:
    db = REPO_ROOT / DB
    for leftover in db.parent.glob(f"*{db.name}*"):  # the file and Lite's lock/sidecar files next to it
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("steps", nargs="*", type=int, help="steps whose chapters to refresh (default: all)")
    parser.add_argument("--check", action="store_true", help="only check markers and headers; run nothing")
    args = parser.parse_args(argv)
    chapters = {int(p.name[4:6]): p for p in sorted(DOCS.glob("step0*.md"))}
    chosen = {step: chapters[step] for step in (args.steps or chapters)}
    if args.check:
        found = [problem for path in chosen.values() for problem in problems(path)]
        print("\n".join(found) or f"{len(chosen)} chapters: every output block has its marker and header")
        return 1 if found else 0
    remove_db()
    run_id = new_run_id()
    print(f"run {run_id}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "MILVUS_URI": DB, "REPORTS_DIR": str(Path(tmp) / "reports"), "PYTHONUNBUFFERED": "1"}
            for step, path in chosen.items():
                refresh(path, step, env, run_id)
    finally:
        remove_db()
    print("refreshed; check the prose next to each block still says what the numbers say (git diff docs/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
