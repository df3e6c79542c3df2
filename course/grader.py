"""The grader for the exercises in exercises/: runs your functions in a sandbox and measures what they did.

    make check                 # every exercise, on the configured engine (Milvus Lite by default)
    make check STEP=2          # the exercises of step 2
    make check EX=2.1          # one exercise
    make check SOLUTIONS=1     # the reference solutions in solutions/ instead of your files
    make check SEED=1234       # repeat a run's randomly drawn data (each run prints its seed)
    python -m course.grader --answers my_answers/   # your files kept in another folder (laid out like exercises/)

Each exercise is a small file with a task (Korean and English) and a function to write. Your function runs in
a process of its own with a time limit (course/grading/sandbox.py); the grader measures, in its own process,
what it did: recall against exact NumPy search, the rows Milvus holds, the ids a filter selects, what promtool
says of an alert rule, on data drawn fresh for each run. Every clause of the task is checked (see the comment
above each check in course/grading/), and where Milvus Lite is more lenient than a Milvus server the answer is
graded as a server would take it. On Milvus Lite the grader serves a temporary database of its own; your
course database is never opened. It prints each figure against its target, what went wrong (in English and
Korean) and a hint, never a solution. Exit 1 while any exercise fails.
"""

# ruff: noqa: E402  (the interrupt handler below is set before the slow imports)
from __future__ import annotations

import os
import signal
import sys

if __name__ == "__main__":  # Ctrl-C while pymilvus and numpy load: the one line cli.run prints, no traceback
    signal.signal(signal.SIGINT, lambda *_: sys.exit(print("interrupted", file=sys.stderr) or 130))
    # gRPC's C core writes its own log lines to stderr (an epoll error when Ctrl-C lands mid-call, measured
    # on the 2.3.5 server); the grader reports every failure itself, so they are off before grpc loads
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import argparse
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import cli
from common.config import REPO_ROOT
from common.errors import CourseError
from common.report import table
from course.grading import sandbox
from course.grading.common import Context, Failed, NotGradable, Problem, Result, shorten
from course.grading.schema3x import check_time_window
from course.grading.schema25 import check_nullable
from course.grading.search3x import check_decay, check_text_match
from course.grading.step5 import check_ab, check_alert, check_alias
from course.grading.steps12 import check_filter, check_index_choice, check_insert, check_schema, check_search
from course.grading.steps34 import check_anomaly, check_backup, check_idempotent, check_recommend

CALL_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Exercise:
    id: str
    file: str  # relative to exercises/ (your code) and solutions/ (the reference)
    function: str
    check: Callable
    hint: str
    needs_milvus: bool = True


EXERCISES = [
    Exercise(
        "1.1",
        "step01/ex1_schema.py",
        "build_schema",
        check_schema,
        "add three fields to MilvusClient.create_schema(auto_id=False): is_primary=True, max_length=200, dim=32 "
        "(lesson 1.3)",
    ),
    Exercise(
        "1.2",
        "step01/ex2_insert.py",
        "insert_rows",
        check_insert,
        "loop over range(0, n, 500), insert each slice, flush once at the end; sum the insert_count (lesson 1.4)",
    ),
    Exercise(
        "1.3",
        "step01/ex3_search.py",
        "top_k",
        check_search,
        "client.search(..., data=[query], anns_field='embedding', limit=k) returns one list of hits per query "
        "(lesson 1.4)",
    ),
    Exercise(
        "1.4",
        "step01/ex4_time_window.py",
        "time_window",
        check_time_window,
        "at >= ISO '...' and at < ISO '...' with the +09:00 offset written in each literal; the end is excluded "
        "(lesson 1.5)",
    ),
    Exercise(
        "1.5",
        "step01/ex5_nullable.py",
        "build_schema",
        check_nullable,
        "add_field(..., nullable=True) lets a row leave price out or send None (it reads back None); "
        "add_field(..., default_value=0) fills stock when a row leaves it out (lesson 1.5)",
    ),
    Exercise(
        "2.1",
        "step02/ex1_index_choice.py",
        "choose_index",
        check_index_choice,
        "sweep ef or nprobe as lesson 2.2 does (python step02_core_features/02_search_tuning.py --n 10000 --dim 64 "
        "--clusters 50 --spread 1.6) and take the cheapest setting over the target",
    ),
    Exercise(
        "2.2",
        "step02/ex2_filter.py",
        "filter_expr",
        check_filter,
        "comparisons use ==, <, >; strings in double quotes; join conditions with 'and' (lesson 2.4)",
    ),
    Exercise(
        "2.3",
        "step02/ex3_text_match.py",
        "text_filter",
        check_text_match,
        "TEXT_MATCH(text, 'a b') matches a OR b; AND two TEXT_MATCH calls; LIKE is case-sensitive and matches "
        "parts of words (lesson 2.5)",
    ),
    Exercise(
        "2.4",
        "step02/ex4_decay.py",
        "decay_params",
        check_decay,
        "no decay within offset of origin; the factor reaches decay at offset + scale from origin (lesson 2.7)",
    ),
    Exercise(
        "3.1",
        "step03/ex1_recommend.py",
        "recommend",
        check_recommend,
        "pass filter='id not in [...]' to search with metric_type 'IP' (lesson 3.3)",
    ),
    Exercise(
        "3.2",
        "step03/ex2_anomaly.py",
        "anomaly_scores",
        check_anomaly,
        "search all points at once with limit=k; the last hit of each list is the k-th; take the square root (lesson "
        "3.5)",
    ),
    Exercise(
        "4.1",
        "step04/ex1_idempotent.py",
        "apply_events",
        check_idempotent,
        "upsert replaces by primary key, so a replayed old event overwrites a newer one: read the stored "
        "versions first (query with 'id in [...]') and write only newer events (lesson 4.4)",
    ),
    Exercise(
        "4.2",
        "step04/ex2_backup_verify.py",
        "damaged_files",
        check_backup,
        "hash each file named in the manifest with hashlib.sha256 and compare; a missing file is damaged too (lesson "
        "4.5)",
        needs_milvus=False,
    ),
    Exercise(
        "5.1",
        "step05/ex1_alert_rule.py",
        "alert_rule",
        check_alert,
        "histogram_quantile(0.99, sum by (le) (rate(<histogram>_bucket{job=...}[5m]))) > 0.25, with for: 5m "
        "(monitoring/alerts.yml, lesson 5.6)",
        needs_milvus=False,
    ),
    Exercise(
        "5.2",
        "step05/ex2_ab_route.py",
        "arm",
        check_ab,
        "hash the id with hashlib (the same in every process), map it to [0, 1) and compare with share (lesson 5.4)",
        needs_milvus=False,
    ),
    Exercise(
        "5.3",
        "step05/ex3_alias_switch.py",
        "switch",
        check_alias,
        "create_alias the first time, alter_alias afterwards; never drop the old collection (lesson 5.3)",
    ),
]


def grade(exercise: Exercise, root: Path, engine, seed: int, timeout: float) -> dict:
    row = {"exercise": exercise.id, "file": f"{root.name}/{exercise.file}"}
    started = time.monotonic()
    ctx = Context(engine, root / exercise.file, exercise.function, seed, timeout, milvus=exercise.needs_milvus)
    if not ctx.file.is_file():
        missing = Problem(f"no file {ctx.file}", f"파일이 없습니다: {ctx.file}")
        return {
            **row,
            "result": "FAIL",
            "measured": "no such file",
            "target": "",
            "hint": exercise.hint,
            "problems": [missing],
        }
    try:
        result = exercise.check(ctx)
    except NotGradable as reason:
        return {**row, "result": "skipped", "measured": f"skipped: {reason}", "target": "", "hint": ""}
    except Failed as failed:
        result = Result(failed.measured or shorten(failed.problem.en, 60), "", [failed.problem])
    except sandbox.AnswerFailed as failed:
        message = str(failed)
        if "raised NotImplementedError" in message:
            result = Result("not written yet", "", [Problem("not written yet", "아직 작성하지 않았습니다")])
        else:
            result = Result(shorten(message, 60), "", [Problem(message, ko_for(message))])
    except Exception as exc:  # the answer left Milvus in a state the grader cannot measure: say what it saw
        text = f"the grader could not measure the result: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        result = Result(shorten(text, 60), "", [Problem(shorten(text, 300), "채점기가 결과를 잴 수 없었습니다")])
    finally:
        printed = [line for a in ctx.answers for line in a.printed()]
        for answer in ctx.answers:
            answer.close()
        cleanup(engine, exercise)
    return {
        "s": round(time.monotonic() - started, 1),
        **row,
        "result": "pass" if result.passed else "FAIL",
        "measured": result.measured,
        "target": result.target,
        "hint": "" if result.passed else exercise.hint,
        "problems": result.problems,
        "notes": result.notes,
        "printed": printed,
    }


def ko_for(message: str) -> str:
    """The Korean line for a failure of the answer's process (the English one names the details)."""
    if "did not return within" in message:
        return "제한 시간 안에 끝나지 않았습니다(무한 루프?)"
    if "sys.exit" in message:
        return "sys.exit를 불렀습니다: 함수는 값을 돌려줘야 하고 프로세스를 끝내면 안 됩니다"
    if "killed by" in message or "ended (exit status" in message:
        return "답안의 프로세스가 값을 돌려주기 전에 끝났습니다"
    if "sandbox" in message:
        return "채점 샌드박스가 허용하지 않는 일을 했습니다"
    if "metric type not match" in message:
        return "인덱스와 다른 metric으로 검색했습니다(서버는 거부합니다)"
    return "답안이 예외를 냈습니다"


def cleanup(engine, exercise: Exercise) -> None:
    if not exercise.needs_milvus:
        return
    client, prefix = engine.client, f"ex_{exercise.id.replace('.', '_')}"
    with contextlib.suppress(Exception):
        for name in [c for c in client.list_collections() if c.startswith(prefix)]:
            for alias in client.list_aliases(collection_name=name).get("aliases", []):
                client.drop_alias(alias=alias)
            client.drop_collection(name)


def chosen(step: str | None, ex: str | None) -> list[Exercise]:
    selected = [e for e in EXERCISES if (not step or e.id.split(".")[0] == step) and (not ex or e.id == ex)]
    if not selected:
        raise CourseError(
            f"no exercise matches STEP={step or ''} EX={ex or ''}; exercises: {', '.join(e.id for e in EXERCISES)}"
        )
    return selected


def report(rows: list[dict], folders: str, seed: int, seconds: float) -> None:
    table([{k: row.get(k) for k in ("exercise", "file", "result", "s", "measured", "target")} for row in rows])
    for row in rows:
        for note in row.get("notes", []):
            print(f"note {row['exercise']}: {note}")
        if row["result"] != "FAIL":
            continue
        print(f"\n{row['exercise']} ({row['file']}):")
        for problem in row.get("problems", []):
            print(f"  - {problem.en}\n    {problem.ko}")
        print(f"hint {row['exercise']}: {row['hint']}")
        if row.get("printed"):
            print(f"  your function printed: {shorten(' | '.join(row['printed']), 160)}")
    passed = sum(row["result"] == "pass" for row in rows)
    failed = sum(row["result"] == "FAIL" for row in rows)
    skipped = len(rows) - passed - failed
    print(f"\n{passed} passed, {failed} failed, {skipped} skipped ({folders}, seed {seed}, {seconds:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", help="only this step's exercises (1-5)")
    parser.add_argument("--ex", help="only this exercise (e.g. 2.1)")
    parser.add_argument("--solutions", action="store_true", help="grade the reference solutions in solutions/")
    parser.add_argument(
        "--answers",
        type=Path,
        action="append",
        help="grade the files in this folder instead (laid out like exercises/); repeat it to grade several "
        "folders in one run (then an exercise a folder has no file for is left out)",
    )
    parser.add_argument("--uri", help="Milvus URI (default: MILVUS_URI / the course's Milvus Lite file)")
    parser.add_argument("--seed", type=cli.int_range(0, 2**31 - 1), help="the data's seed (default: a new one)")
    parser.add_argument(
        "--timeout",
        type=cli.float_range(1, 600),
        default=CALL_TIMEOUT_S,
        help=f"seconds one call of your function may take (default {CALL_TIMEOUT_S:g})",
    )
    args = parser.parse_args(argv)
    roots = [root.resolve() for root in args.answers or [REPO_ROOT / ("solutions" if args.solutions else "exercises")]]
    for root in roots:
        if not root.is_dir():
            raise CourseError(f"no folder {root}", "pass --answers a folder laid out like exercises/ (stepNN/exN_*.py)")
    selected = chosen(args.step or None, args.ex or None)
    graded = [(e, root) for root in roots for e in selected if len(roots) == 1 or (root / e.file).is_file()]
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    started = time.monotonic()
    with cli.sigterm_as_interrupt(), sandbox.engine(args.uri) as engine:
        print(f"engine: {engine.info.label}, {engine.label}; seed {seed} (make check SEED={seed} repeats it)")
        rows = [grade(e, root, engine, seed, args.timeout) for e, root in graded]
    report(rows, ", ".join(f"{root.name}/" for root in roots), seed, time.monotonic() - started)
    return 1 if any(row["result"] == "FAIL" for row in rows) else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on cli.run handles it
    cli.run(main)
