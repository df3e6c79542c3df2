"""Answers a learner might write, for the grader's own tests: wrong ones (each must fail, with the message
that names its mistake) and alternative correct ones (each must pass).

Each case is one exercise's file. ``expect`` is a phrase the grader's report must contain for a wrong answer;
``server`` marks the cases whose grading depends on the engine (what Milvus Lite lets through and a server
refuses, or build params an engine may drop): those run on the embedded server pass too, and
``server_expect`` says what that server does where it differs from Milvus Lite.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    exercise: str
    name: str
    source: str
    expect: str | None = None  # None: a correct answer, must pass
    server: bool = False
    # where the embedded 2.3.5 server grades it otherwise (measured): the phrase its failure must name,
    # or "" for a pass
    server_expect: str | None = None


from tests.exercise_answers.step1 import CASES as STEP1  # noqa: E402
from tests.exercise_answers.step1_schema3x import CASES as STEP1_SCHEMA3X  # noqa: E402
from tests.exercise_answers.step1_schema25 import CASES as STEP1_SCHEMA25  # noqa: E402
from tests.exercise_answers.step2 import CASES as STEP2  # noqa: E402
from tests.exercise_answers.step2_search3x import CASES as STEP2_SEARCH3X  # noqa: E402
from tests.exercise_answers.step3 import CASES as STEP3  # noqa: E402
from tests.exercise_answers.step4 import CASES as STEP4  # noqa: E402
from tests.exercise_answers.step5 import CASES as STEP5  # noqa: E402

CASES: list[Case] = STEP1 + STEP1_SCHEMA25 + STEP1_SCHEMA3X + STEP2 + STEP2_SEARCH3X + STEP3 + STEP4 + STEP5
