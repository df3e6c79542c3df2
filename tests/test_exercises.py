"""The graded exercises, both sides: every reference solution passes the grader on the live engine,
every untouched template fails with its hint, and plausible wrong answers fail on what the grader measures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

from common.config import REPO_ROOT

import pytest

from course.grader import EXERCISES

pytestmark = pytest.mark.lesson


def grader(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course.grader", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )


def rows(output: str) -> dict[str, str]:
    """exercise id → its result column, from the grader's table."""
    return {m[1]: m[2] for m in re.finditer(r"^(\d\.\d)\s+\S+\s+(pass|FAIL|skipped)\b", output, re.M)}


# Without promtool (CI installs it) the alert exercise is skipped, by name.
NO_PROMTOOL = {"5.1"} if shutil.which("promtool") is None else set()


def test_every_solution_passes():
    done = grader("--solutions")
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows(done.stdout) == {e.id: "skipped" if e.id in NO_PROMTOOL else "pass" for e in EXERCISES}, done.stdout
    assert "hint" not in done.stdout
    assert not NO_PROMTOOL or "skipped: needs promtool" in done.stdout


def test_every_template_fails_with_its_hint():
    done = grader()
    assert done.returncode == 1, done.stdout + done.stderr
    assert rows(done.stdout) == {e.id: "FAIL" for e in EXERCISES}, done.stdout  # not written yet: fails before promtool
    for exercise in EXERCISES:
        assert f"hint {exercise.id}: {exercise.hint}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_one_step_or_one_exercise_and_a_wrong_choice():
    assert set(rows(grader("--step", "2", "--solutions").stdout)) == {"2.1", "2.2"}
    assert set(rows(grader("--ex", "4.2", "--solutions").stdout)) == {"4.2"}
    done = grader("--ex", "9.9")
    assert done.returncode == 2 and "no exercise matches" in done.stderr and "Traceback" not in done.stderr
    done = grader("--answers", "/no/such/folder")
    assert done.returncode == 2 and "no folder" in done.stderr and "Traceback" not in done.stderr


# Answers a learner might write that look right and are not: each must fail on a measured figure.
WRONG = {
    "1.2": """
        def insert_rows(client, collection, vectors, titles):
            rows = [{"id": i, "title": t, "embedding": v} for i, (v, t) in enumerate(zip(vectors, titles))]
            return client.insert(collection_name=collection, data=rows)["insert_count"]  # one call, no flush
    """,
    "2.1": """
        def choose_index():
            return "HNSW", {"M": 16, "efConstruction": 200}, {"ef": 16}  # cheap, below the target
    """,
    "2.2": """
        def filter_expr():
            return 'category == "books" and price <= 20 and stock >= 0'  # off by one on both bounds
    """,
    "3.1": """
        def recommend(client, collection, user_vector, seen_ids, k):
            hits = client.search(collection_name=collection, data=[user_vector], anns_field="embedding", limit=k,
                                 search_params={"metric_type": "IP"})[0]
            return [h["id"] for h in hits if h["id"] not in seen_ids]  # filtered afterwards: fewer than k
    """,
    "3.2": """
        def anomaly_scores(client, collection, points, k):
            results = client.search(collection_name=collection, data=points, anns_field="embedding", limit=k,
                                    search_params={"metric_type": "L2"})
            return [hits[-1]["distance"] for hits in results]  # squared distance, not the distance
    """,
    "4.1": """
        def apply_events(client, collection, events):
            client.upsert(collection_name=collection, data=events)  # a replayed old event overwrites a newer one
    """,
    "5.2": """
        def arm(user_id, share):
            return "treatment" if (hash(user_id) % 1000) / 1000 < share else "control"  # salted per process
    """,
}


@pytest.mark.parametrize("exercise_id", sorted(WRONG))
def test_a_plausible_wrong_answer_fails(exercise_id, tmp_path):
    exercise = next(e for e in EXERCISES if e.id == exercise_id)
    target = tmp_path / exercise.file
    target.parent.mkdir(parents=True)
    target.write_text(textwrap.dedent(WRONG[exercise_id]))
    done = grader(
        "--answers", str(tmp_path), "--ex", exercise_id
    )  # a child process: Lite lets one process hold the file
    assert done.returncode == 1 and rows(done.stdout) == {exercise_id: "FAIL"}, done.stdout + done.stderr
    assert f"hint {exercise_id}: {exercise.hint}" in done.stdout
