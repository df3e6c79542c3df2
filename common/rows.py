"""Course plumbing around collections: cleanup, exact counts, row shaping, batched search, row validation.

Creating schemas, indexes and collections is what the lessons teach, so
each lesson writes those calls itself; nothing here hides them.

pymilvus reports a wrong-dimension row as "float_vector data has 15
elements, expected num_rows(4) * dim(3)" — true, but it names neither the
row nor the fix. ``validate_rows`` checks a batch against the collection's
own schema *before* anything is sent, so a bad batch fails whole, with the
row, the field and what was expected; nothing from it is stored.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

from common.errors import BadInput

import numpy as np
from pymilvus import DataType, MilvusClient


def drop_if_exists(client: MilvusClient, *names: str) -> None:
    """Drop each named collection that exists (a lesson's cleanup, before and after it runs)."""
    for name in names:
        if client.has_collection(name):
            client.drop_collection(name)


def count_rows(client: MilvusClient, name: str, **kwargs) -> int:
    """Exact row count via ``count(*)`` (``get_collection_stats`` may lag on a server)."""
    result = client.query(name, filter="", output_fields=["count(*)"], **kwargs)
    return int(result[0]["count(*)"])


def vector_rows(vectors: np.ndarray, **columns: Sequence) -> list[dict]:
    """Rows for ``insert``: ``{"embedding": vector, <column>: value, ...}`` per vector."""
    rows = []
    for i, vector in enumerate(np.asarray(vectors, dtype=np.float32)):
        row = {"embedding": vector.tolist()}
        row.update({key: values[i] for key, values in columns.items()})
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Validation

_INTS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_FLOAT_VECTORS = {DataType.FLOAT_VECTOR, DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR}


def _field_problem(field: Mapping, value) -> str | None:
    """What is wrong with ``value`` for ``field`` (a ``describe_collection`` entry), or None."""
    dtype = field["type"]
    params = field.get("params", {})
    if dtype in _FLOAT_VECTORS:
        dim = int(params["dim"])
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            return f"expected a list of {dim} floats, got {type(value).__name__}"
        if array.ndim != 1 or len(array) != dim:
            got = f"{len(array)} values" if array.ndim == 1 else f"shape {array.shape}"
            return f"expected {dim} floats (dim={dim}), got {got}"
        if not np.all(np.isfinite(array)):
            return "contains NaN or infinity"
        return None
    if dtype == DataType.BINARY_VECTOR:
        nbytes = int(params["dim"]) // 8
        if not isinstance(value, (bytes, bytearray)) or len(value) != nbytes:
            return f"expected {nbytes} bytes (dim={params['dim']} bits)"
        return None
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        if not isinstance(value, Mapping) or not all(isinstance(k, numbers.Integral) for k in value):
            return "expected a dict {dimension index: weight}"
        return None
    if dtype == DataType.VARCHAR:
        if not isinstance(value, str):
            return f"expected a string (VARCHAR), got {type(value).__name__}"
        limit = int(params.get("max_length", 65535))
        if len(value.encode()) > limit:
            return f"string of {len(value.encode())} bytes exceeds max_length={limit}"
        return None
    if dtype in _INTS:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return f"expected an integer ({dtype.name}), got {type(value).__name__}"
        bits = _INTS[dtype]
        if not -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1):
            return f"{value} does not fit in {dtype.name}"
        return None
    if dtype in (DataType.FLOAT, DataType.DOUBLE):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"expected a number ({dtype.name}), got {type(value).__name__}"
        return None
    if dtype == DataType.BOOL:
        return None if isinstance(value, (bool, np.bool_)) else f"expected true/false, got {type(value).__name__}"
    if dtype == DataType.ARRAY:
        capacity = int(params.get("max_capacity", 0))
        if not isinstance(value, (list, tuple)):
            return f"expected a list (ARRAY), got {type(value).__name__}"
        if capacity and len(value) > capacity:
            return f"{len(value)} elements exceed max_capacity={capacity}"
        element = {"type": field.get("element_type"), "params": params}
        for item in value:
            problem = _field_problem(element, item)
            if problem:
                return f"array element {item!r}: {problem}"
        return None
    if dtype == DataType.JSON:
        return None if isinstance(value, (Mapping, list, str, int, float, bool)) else "expected JSON (dict, list, ...)"
    return None


def validate_rows(description: Mapping, rows: Sequence[Mapping]) -> None:
    """Raise ``BadInput`` for the first row that does not fit the collection.

    ``description`` is ``client.describe_collection(name)``. Checks required
    fields, types, vector dimensions and VARCHAR/ARRAY limits; unknown keys
    are allowed only with dynamic fields on.
    """
    name = description.get("collection_name", "?")
    fields = {f["name"]: f for f in description["fields"]}
    dynamic = description.get("enable_dynamic_field", False)
    for index, row in enumerate(rows):
        for field_name, field in fields.items():
            if field.get("auto_id"):
                if field_name in row:
                    raise BadInput(
                        f"row {index}: field '{field_name}' is auto_id, so it must not be given",
                        "remove the key from the row, or create the collection with auto_id=False",
                    )
                continue
            if field_name not in row or row[field_name] is None:
                if field.get("nullable") or "default_value" in field or field.get("is_function_output"):
                    continue
                raise BadInput(
                    f"row {index}: field '{field_name}' ({field['type'].name}) is missing",
                    f"every row of '{name}' needs '{field_name}'",
                )
            problem = _field_problem(field, row[field_name])
            if problem:
                raise BadInput(
                    f"row {index}: field '{field_name}' ({field['type'].name}): {problem}",
                    f"fix that row; nothing from this batch was inserted into '{name}'",
                )
        extra = set(row) - set(fields)
        if extra and not dynamic:
            raise BadInput(
                f"row {index}: unknown field(s) {sorted(extra)} for '{name}'",
                "remove them, or create the collection with enable_dynamic_field=True",
            )


def insert_checked(client: MilvusClient, name: str, rows: Sequence[Mapping], **kwargs) -> dict:
    """Validate the whole batch against the schema, then insert it in one call."""
    validate_rows(client.describe_collection(name), rows)
    return client.insert(name, list(rows), **kwargs)


def search_ids(
    client: MilvusClient, name: str, queries: np.ndarray, limit: int, batch: int = 100, **kwargs
) -> list[list[int]]:
    """Top-``limit`` ids for every query, sent ``batch`` queries per call (for recall, not latency)."""
    found = []
    for start in range(0, len(queries), batch):
        chunk = np.asarray(queries[start : start + batch], dtype=np.float32).tolist()
        found += client.search(name, chunk, limit=limit, **kwargs)
    return [[hit["id"] for hit in hits] for hits in found]
