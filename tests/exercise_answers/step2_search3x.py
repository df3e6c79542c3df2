"""Step 2, Milvus 2.5-2.6 features: a TEXT_MATCH filter (2.3), a decay ranker (2.4). Graded on Milvus Lite;
the embedded 2.3.5 server has neither feature and skips both by name (tests/test_exercises.py)."""

from tests.exercise_answers import Case

CASES = [
    Case(
        "2.3",
        "one TEXT_MATCH with every word (OR)",
        "def text_filter():\n    return \"TEXT_MATCH(text, 'replica disk memory')\"\n",
        expect="outside the condition",
    ),
    Case(
        "2.3",
        "LIKE instead of TEXT_MATCH",
        'def text_filter():\n    return \'text like "%replica%" and (text like "%disk%" or text like "%memory%")\'\n',
        expect="'Replica on DISK'",  # case-sensitive: misses it (and takes 'replicas share memory')
    ),
    Case(
        "2.3",
        "disk only",
        "def text_filter():\n    return \"TEXT_MATCH(text, 'replica') and TEXT_MATCH(text, 'disk')\"\n",
        expect="missed",
    ),
    Case(
        "2.3",
        "double quotes, OR written out",
        "def text_filter():\n"
        '    return \'TEXT_MATCH(text, "replica") and (TEXT_MATCH(text, "disk") or TEXT_MATCH(text, "memory"))\'\n',
    ),
    Case(
        "2.4",
        "no grace period (offset 0, scale 30)",
        'def decay_params():\n    return {"function": "gauss", "origin": 0, "offset": 0, "scale": 30, "decay": 0.5}\n',
        expect="queries; your factor at 0/7/30 days",
    ),
    Case(
        "2.4",
        "scale 30 on top of offset 7",
        'def decay_params():\n    return {"function": "gauss", "origin": 0, "offset": 7, "scale": 30, "decay": 0.5}\n',
        expect="queries; your factor at 0/7/30 days",
    ),
    Case(
        "2.4",
        "exp curve",
        'def decay_params():\n    return {"function": "exp", "origin": 0, "offset": 7, "scale": 23, "decay": 0.5}\n',
        expect="queries; your factor at 0/7/30 days",
    ),
    Case(
        "2.4",
        "a list, not a dict",
        'def decay_params():\n    return ["gauss", 0, 7, 23, 0.5]\n',
        expect="expected a dict with the keys",
    ),
    Case(
        "2.4",
        "floats, keys in another order",
        "def decay_params():\n"
        '    return {"decay": 0.5, "scale": 23.0, "offset": 7.0, "origin": 0.0, "function": "gauss"}\n',
    ),
]
