"""The curriculum runner: list lessons, run all / one step / one lesson, summarise.

    python -m course.curriculum list
    python -m course.curriculum run                 # every lesson, in order
    python -m course.curriculum run 1               # step 1 only
    python -m course.curriculum run 1.3 2.1         # single lessons (step.lesson)
    python -m course.curriculum run step01_basics/03_schema_and_collections.py
    python -m course.curriculum reset-db            # remove the Milvus Lite database (make reset-db)

Each lesson runs in its own process, so one lesson's failure (or crash)
cannot poison the next. The summary table shows status, seconds and each
lesson's headline figure; ``reports/curriculum.json`` and
``reports/curriculum.png`` keep them. Exit code 1 if any lesson failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common import cli, processes
from common.config import REPO_ROOT, is_lite_uri, load_settings
from common.connection import check_lite_lock, lite_database_problem
from common.errors import CourseError, interrupt_on_signal
from common.report import fmt, heading, new_figure, save_figure, save_json, table

# Seconds each lesson may take on Milvus Lite at its default size on an idle 2-core machine, the first
# run included (an empty embedding cache for 3.1): what was measured here plus a margin. The whole
# curriculum must also stay within TOTAL_BUDGET_S of lessons. The runner shows each lesson against its
# budget; `make bench` fails when one is over, or the total is. Tests only guard against hangs (several
# times the budget), so a slower laptop still passes them.
BUDGET_S = {
    "1.1": 3,
    "1.2": 5,
    "1.3": 4,
    "1.4": 12,
    "1.5": 8,
    "1.6": 15,
    "2.1": 40,
    "2.2": 145,
    "2.3": 19,
    "2.4": 34,
    "2.5": 8,
    "2.6": 20,
    "2.7": 9,
    "2.8": 14,
    "2.9": 16,
    "3.1": 50,
    "3.2": 15,
    "3.3": 28,
    "3.4": 115,
    "3.5": 9,
    "4.1": 20,
    "4.2": 14,
    "4.3": 19,
    "4.4": 65,
    "4.5": 9,
    "4.6": 8,
    "4.7": 14,
    "4.8": 4,
    "5.1": 2,
    "5.2": 4,
    "5.3": 14,
    "5.4": 53,
    "5.5": 2,
    "5.6": 3,
    "5.7": 3,
}
TOTAL_BUDGET_S = 670


@dataclass(frozen=True)
class Lesson:
    path: Path

    @property
    def step(self) -> int:
        return int(self.path.parent.name[4:6])

    @property
    def number(self) -> int:
        return int(self.path.name[:2])

    @property
    def id(self) -> str:
        return f"{self.step}.{self.number}"

    @property
    def budget_s(self) -> float:
        return BUDGET_S.get(self.id, 60)

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def summary(self) -> str:
        """The first line of the lesson's docstring."""
        doc = load_module(self.path).__doc__ or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


def discover(root: Path = REPO_ROOT) -> list[Lesson]:
    paths = sorted(root.glob("step0[1-9]_*/[0-9][0-9]_*.py"))
    return [Lesson(p) for p in paths]


def select(lessons: list[Lesson], selectors: list[str]) -> list[Lesson]:
    """Pick lessons by step ("1"), step.lesson ("1.3"), or file/path name."""
    if not selectors:
        return lessons
    chosen = []
    for selector in selectors:
        matches = [
            lesson
            for lesson in lessons
            if selector in (str(lesson.step), lesson.id, lesson.path.name, lesson.name, lesson.path.stem)
            or selector.rstrip("/") == lesson.path.parent.name
            or (Path(selector).exists() and Path(selector).resolve() == lesson.path.resolve())
        ]
        if not matches:
            raise CourseError(f"no lesson matches {selector!r}", "run `python -m course.curriculum list` to see them")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"lesson_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_child(path: Path, result_file: Path, argv: list[str]) -> int:
    """In the child process: run one lesson's main() and write its result as JSON.

    The runner stops a child with SIGTERM (on Ctrl-C); it becomes KeyboardInterrupt here, so the
    lesson's ``finally`` blocks run, and the child exits 130 quietly: the runner says "interrupted".
    """
    signal.signal(signal.SIGTERM, interrupt_on_signal)
    try:
        result = load_module(path).main(argv)  # a CourseError goes on to cli.run: its message, exit 2
    except KeyboardInterrupt:
        quiet_after_interrupt()
        return 130
    result_file.write_text(json.dumps(result, default=str))
    return 0


def quiet_after_interrupt() -> None:
    """After Ctrl-C the runner says "interrupted": background threads that were cut off mid-call (Milvus Lite's
    flush at shutdown, pymilvus' channel) must not print their own tracebacks on the way out."""
    for name in ("milvus_lite", "pymilvus", "grpc"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    threading.excepthook = lambda args: None
    sys.unraisablehook = lambda unraisable: None


def ignore_sigint() -> None:
    """In a lesson child: Ctrl-C goes to the runner, which stops the child with SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_one(command: list[str]) -> int:
    """Run a lesson child; on Ctrl-C stop it (SIGTERM, then SIGKILL) and re-raise KeyboardInterrupt.

    The child has a reaper (``common.processes``): if the runner itself is killed, even by SIGKILL,
    the lesson's process group is killed with it, and the lesson's own children (a broker, a server,
    consumers) follow through their reapers, which are tied to the lesson.
    """
    child = processes.start(
        command, cwd=REPO_ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), preexec_fn=ignore_sigint
    )
    try:
        return child.wait()
    except KeyboardInterrupt:
        processes.stop(child, timeout=30)  # SIGTERM: the lesson's finally blocks run; SIGKILL after 30 s
        raise
    finally:
        processes.release(child)


def run_lessons(lessons: list[Lesson], extra_argv: list[str]) -> list[dict]:
    rows = []
    for position, lesson in enumerate(lessons, 1):
        heading(f"[{position}/{len(lessons)}] {lesson.name}")
        with tempfile.TemporaryDirectory() as tmp:
            result_file = Path(tmp) / "result.json"
            command = [
                sys.executable,
                "-m",
                "course.curriculum",
                "_child",
                str(lesson.path),
                str(result_file),
                *extra_argv,
            ]
            start = time.perf_counter()
            code = run_one(command)
            seconds = time.perf_counter() - start
            result = json.loads(result_file.read_text()) if code == 0 and result_file.exists() else {}
        skipped = result.get("skipped", [])
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        if code == 0 and skipped:
            status += f" ({len(skipped)} skipped)"
        rows.append(
            {
                "lesson": lesson.name,
                "status": status,
                "seconds": round(seconds, 1),
                "budget s": lesson.budget_s,
                "over budget": seconds > lesson.budget_s,
                "headline": result.get("headline", ""),
                "skipped": skipped,
                "result": result,
            }
        )
    return rows


def summarise(rows: list[dict]) -> None:
    heading("Summary")
    table(
        [
            {
                **{k: r[k] for k in ("lesson", "status", "seconds", "budget s")},
                "": "OVER" if r["over budget"] else "",
                "headline": r["headline"],
            }
            for r in rows
        ]
    )
    total = sum(r["seconds"] for r in rows)
    failed = [r["lesson"] for r in rows if r["status"].startswith("FAILED")]
    steps: dict[str, float] = {}
    for row in rows:
        steps[row["lesson"].split("/")[0]] = steps.get(row["lesson"].split("/")[0], 0.0) + row["seconds"]
    print(
        f"\n{len(rows)} lessons, {len(rows) - len(failed)} ok, {len(failed)} failed, {fmt(total)} s in all"
        f" ({', '.join(f'{step} {fmt(seconds)} s' for step, seconds in steps.items())})"
    )
    over = [r["lesson"] for r in rows if r["over budget"]]
    if over:
        print(f"over budget: {', '.join(over)} (budgets are for Milvus Lite at default size on an idle 2-core machine)")
    for row in rows:
        for line in row["skipped"]:
            print(f"  {row['lesson']}: {line}")
    json_path = save_json(
        "curriculum",
        {
            "lessons": rows,
            "total_seconds": total,
            "step_seconds": steps,
            "failed": failed,
            "over_budget": over,
            "total_budget_s": TOTAL_BUDGET_S,
        },
    )
    fig, ax = new_figure(8, 0.4 * len(rows) + 1.5)
    colors = ["tab:red" if r["status"].startswith("FAILED") else "tab:green" for r in rows]
    ax.barh([r["lesson"] for r in rows][::-1], [r["seconds"] for r in rows][::-1], color=colors[::-1])
    ax.set_xlabel("seconds")
    ax.set_title("milvus-course: time per lesson (red = failed)")
    png_path = save_figure(fig, "curriculum")
    print(f"report: {json_path}\nplot:   {png_path}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        return run_child(Path(argv[1]), Path(argv[2]), argv[3:])

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list the lessons")
    sub.add_parser("reset-db", help="remove the Milvus Lite database the lessons use (after saying what it holds)")
    run_parser = sub.add_parser("run", help="run lessons (all by default)")
    run_parser.add_argument("selectors", nargs="*", help='step ("1"), lesson ("1.3") or file name')
    run_parser.add_argument("--uri", help="Milvus URI for every lesson (default: MILVUS_URI / Milvus Lite)")
    run_parser.add_argument(
        "--check-budget",
        action="store_true",
        help=f"exit 1 when a lesson is over its budget or all take over {TOTAL_BUDGET_S} s (make bench)",
    )
    args = parser.parse_args(argv)

    if args.action == "reset-db":
        return reset_db()
    lessons = select(discover(), getattr(args, "selectors", []))
    if args.action == "list":
        table([{"id": lesson.id, "lesson": lesson.name, "what it shows": lesson.summary} for lesson in lessons])
        return 0
    rows = run_lessons(lessons, ["--uri", args.uri] if args.uri else [])
    summarise(rows)
    if any(r["status"].startswith("FAILED") for r in rows):
        return 1
    total = sum(r["seconds"] for r in rows)
    if args.check_budget and (any(r["over budget"] for r in rows) or total > TOTAL_BUDGET_S):
        print(f"budget check failed: {total:.0f} s in all (budget {TOTAL_BUDGET_S} s)", file=sys.stderr)
        return 1
    return 0


def reset_db() -> int:
    """Remove the Milvus Lite database MILVUS_URI names (default .milvus/course.db), saying what it held."""
    settings = load_settings()
    uri = settings.milvus_uri
    if not is_lite_uri(uri):
        raise CourseError(
            f"MILVUS_URI is a server ({uri}): reset-db only removes a Milvus Lite database",
            "drop collections on a server with client.drop_collection(...)",
        )
    db = Path(uri)
    if not db.exists() and not db.is_symlink():
        print(f"nothing to remove: {db} does not exist")
        return 0
    found = lite_database_problem(db)
    if found:  # only what Milvus Lite made is ever deleted
        raise CourseError(
            f"{db} is not a Milvus Lite database (it is {found}): nothing removed",
            "check MILVUS_URI; move those files away yourself if the database should be recreated there",
        )
    check_lite_lock(uri)  # never pull a database from under a running lesson
    collections = sorted(p.name for p in (db / "collections").glob("*")) if (db / "collections").is_dir() else []
    size = sum(f.stat().st_size for f in db.rglob("*") if f.is_file())
    print(
        f"removing the Milvus Lite database {db} ({size / 2**20:.1f} MiB; collections: "
        f"{', '.join(collections) or 'none'})"
    )
    try:
        shutil.rmtree(db)
    except OSError as exc:
        raise CourseError(
            f"could not remove all of {db}: {exc.strerror} ({exc.filename}); what is left is still there",
            f"a file there is read-only or immutable: lsattr -R {db} shows it (chattr -i FILE), "
            "then run make reset-db again",
        ) from None
    print("removed; the next lesson creates a fresh database")
    return 0


if __name__ == "__main__":
    cli.run(main)
