"""Unit tests of row validation, tables and report files (no engine needed)."""

import json

from common.errors import BadInput
from common.report import fmt, save_json, table
from common.rows import validate_rows

import pytest
from pymilvus import DataType

DESCRIPTION = {
    "collection_name": "books",
    "enable_dynamic_field": False,
    "fields": [
        {"name": "id", "type": DataType.INT64, "params": {}, "is_primary": True, "auto_id": True},
        {"name": "title", "type": DataType.VARCHAR, "params": {"max_length": 8}},
        {"name": "year", "type": DataType.INT16, "params": {}},
        {
            "name": "tags",
            "type": DataType.ARRAY,
            "element_type": DataType.VARCHAR,
            "params": {"max_capacity": 2, "max_length": 5},
        },
        {"name": "embedding", "type": DataType.FLOAT_VECTOR, "params": {"dim": 3}},
    ],
}
GOOD = {"title": "ok", "year": 1999, "tags": ["a"], "embedding": [0.1, 0.2, 0.3]}


def test_good_rows_pass():
    validate_rows(DESCRIPTION, [GOOD, dict(GOOD, title="fine")])


@pytest.mark.parametrize(
    "row, words",
    [
        (dict(GOOD, embedding=[0.1, 0.2]), ["row 1", "'embedding'", "expected 3 floats", "got 2"]),
        (dict(GOOD, embedding=[0.1, float("nan"), 0.3]), ["'embedding'", "NaN"]),
        (dict(GOOD, year="1999"), ["'year'", "integer", "str"]),
        (dict(GOOD, year=70000), ["'year'", "INT16"]),
        (dict(GOOD, title="much too long"), ["'title'", "max_length=8"]),
        (dict(GOOD, tags=["a", "b", "c"]), ["'tags'", "max_capacity=2"]),
        (dict(GOOD, tags=[1]), ["'tags'", "string"]),
        ({k: v for k, v in GOOD.items() if k != "year"}, ["'year'", "missing"]),
        (dict(GOOD, id=5), ["'id'", "auto_id"]),
        (dict(GOOD, colour="red"), ["unknown field", "colour", "enable_dynamic_field"]),
    ],
)
def test_bad_rows_name_row_field_and_expectation(row, words):
    with pytest.raises(BadInput) as err:
        validate_rows(DESCRIPTION, [GOOD, row])
    text = str(err.value)
    for word in words:
        assert word in text
    assert "fix:" in text


def test_dynamic_fields_accept_extra_keys():
    validate_rows(dict(DESCRIPTION, enable_dynamic_field=True), [dict(GOOD, colour="red")])


def test_fmt_numbers():
    assert fmt(0.98765) == "0.9877"
    assert fmt(12.345) == "12.3"
    assert fmt(123456) == "123,456"
    assert fmt(1999) == "1999"
    assert fmt(2.5e-5) == "2.50e-05"
    assert fmt(True) == "yes" and fmt(None) == "-"


def test_table_aligns_columns():
    lines = table(
        [{"index": "FLAT", "recall": 1.0}, {"index": "HNSW", "recall": 0.95}], out=lambda _: None
    ).splitlines()
    assert lines[0].startswith("index") and set(lines[1]) <= {"-", " "}
    assert len({len(line) for line in lines[2:]}) == 1  # numbers right-aligned to one width


def test_save_json_converts_numpy(monkeypatch, tmp_path):
    import numpy as np

    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))
    path = save_json("x", {"a": np.float32(0.5), "b": np.arange(3)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2]}
