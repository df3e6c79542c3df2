"""Step 1, Milvus 2.6.6 TIMESTAMPTZ: the time-range filter of exercise 1.4. Graded on Milvus Lite; the embedded
2.3.5 server has no TIMESTAMPTZ and skips it by name (tests/test_exercises.py)."""

from tests.exercise_answers import Case

CASES = [
    Case(
        "1.4",
        "UTC boundaries instead of Korea time",
        "def time_window():\n    return \"at >= ISO '2025-03-01T00:00:00Z' and at < ISO '2025-04-01T00:00:00Z'\"\n",
        expect="missed",  # 1 March 00:00-09:00 KST is missed (and 1 April 00:00-09:00 KST taken)
    ),
    Case(
        "1.4",
        "end included",
        "def time_window():\n"
        "    return \"at >= ISO '2025-03-01T00:00:00+09:00' and at <= ISO '2025-04-01T00:00:00+09:00'\"\n",
        expect="outside the window, e.g. id",
    ),
    Case(
        "1.4",
        "start excluded",
        "def time_window():\n"
        "    return \"at > ISO '2025-03-01T00:00:00+09:00' and at < ISO '2025-04-01T00:00:00+09:00'\"\n",
        expect="missed 1 events inside the window",
    ),
    Case(
        "1.4",
        "the same instants written in UTC",
        "def time_window():\n    return \"at >= ISO '2025-02-28T15:00:00Z' and at < ISO '2025-03-31T15:00:00Z'\"\n",
    ),
]
