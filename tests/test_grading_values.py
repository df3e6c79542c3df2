"""Values crossing the grader's process boundary (course/grading/child.py encodes, sandbox.py decodes): a schema
the answer returns comes back as the same schema, default values included. No engine is needed."""

from __future__ import annotations

import json

from course.grading import child, sandbox

from pymilvus import DataType, MilvusClient


def across(value):
    """What the grader gets for ``value``: encoded in the answer's process, sent as one JSON line, decoded."""
    return sandbox.decode(json.loads(json.dumps(child.encode(value))))


def products_schema():
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="name", datatype=DataType.VARCHAR, max_length=40)
    schema.add_field(field_name="price", datatype=DataType.FLOAT, nullable=True)
    schema.add_field(field_name="stock", datatype=DataType.INT64, default_value=0)
    schema.add_field(field_name="rating", datatype=DataType.DOUBLE, nullable=True, default_value=2.5)
    schema.add_field(field_name="label", datatype=DataType.VARCHAR, max_length=8, nullable=True, default_value="n/a")
    schema.add_field(field_name="active", datatype=DataType.BOOL, default_value=False)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=8)
    return schema


def test_a_schema_with_default_values_comes_back_as_the_same_schema():
    original = products_schema()
    got = across(original)
    assert isinstance(got, sandbox.Schema)
    defaults = {f["name"]: f.get("default_value") for f in got.fields["fields"]}
    assert defaults == {
        "id": None,
        "name": None,
        "price": None,
        "stock": 0,
        "rating": 2.5,
        "label": "n/a",
        "active": False,
        "embedding": None,
    }
    assert type(defaults["stock"]) is int and type(defaults["active"]) is bool
    rebuilt = got.collection_schema()
    assert rebuilt.to_dict() == original.to_dict()  # the same fields, types, params, ValueField defaults
    assert rebuilt.enable_dynamic_field and not rebuilt.auto_id
    stock = next(f for f in rebuilt.fields if f.name == "stock")
    assert stock.default_value.WhichOneof("data") == "long_data" and stock.default_value.long_data == 0


def test_a_schema_without_defaults_is_unchanged_by_the_conversion():
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=4)
    got = across(schema)
    assert got.fields == json.loads(json.dumps(schema.to_dict(), default=int))
    assert got.collection_schema().to_dict() == schema.to_dict()
