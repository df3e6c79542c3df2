"""The divergence register, measured: what the engine behind MILVUS_URI does where engines differ.

Each test measures one entry of common/divergences.py on the engine under test and asserts the
register's value for that engine. It runs in the Milvus Lite pass of ``make test`` and in the server
pass (``pytest -m lesson`` on the embedded server). On Milvus Lite it opens a database file of its
own (same engine, same version) so it never holds the lesson tests' file; on a server it uses the
server. When an engine changes (a Lite release fixes a divergence), the failing test says which
register entry to update. The table in docs/troubleshooting.md is checked against the register too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from common import cli
from common.config import REPO_ROOT, is_lite_uri, load_settings
from common.connection import quiet_pymilvus
from common.divergences import DIVERGENCES
from common.engine import describe
from common.indexes import engine_build_params, reported_build_params
from common.metrics import time_calls

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "divergence_"
DIM = 8


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """(client, info, uri): the server at MILVUS_URI, or a Lite file of this module's own."""
    uri = load_settings().milvus_uri
    if is_lite_uri(uri):
        uri = str(tmp_path_factory.mktemp("divergence") / "register.db")
    with cli.engine(uri, quiet=True) as (client, info):
        yield client, info, uri
        for name in client.list_collections():
            if name.startswith(PREFIX):
                client.drop_collection(name)


def check(info, name: str, measured: object) -> None:
    """Assert the register's value for this engine, and say what to update when it no longer holds."""
    expected = info.behaviour(name)
    assert measured == expected, (
        f"{info.label}: {DIVERGENCES[name].question}: measured {measured!r}, the register says {expected!r}. "
        f"The engine changed: update DIVERGENCES[{name!r}] in common/divergences.py, its row in "
        f"docs/troubleshooting.md, and what its course note names ({DIVERGENCES[name].course})"
    )


def fresh_collection(client, name: str, dynamic: bool = False, text_length: int | None = None, **kwargs) -> str:
    name = PREFIX + name
    if client.has_collection(collection_name=name):
        client.drop_collection(collection_name=name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=dynamic)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="v", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    if text_length is not None:
        schema.add_field(field_name="text", datatype=DataType.VARCHAR, max_length=text_length)
    client.create_collection(collection_name=name, schema=schema, **kwargs)
    return name


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def index_and_load(client, name: str, index_type: str, params: dict, metric: str = "COSINE") -> dict:
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="v", index_type=index_type, metric_type=metric, params=params)
    client.create_index(collection_name=name, index_params=index_params, timeout=120)
    client.load_collection(collection_name=name, timeout=120)
    return client.describe_index(collection_name=name, index_name="v")


def filled(client, name: str, n: int = 600, **kwargs) -> str:
    name = fresh_collection(client, name, **kwargs)
    client.insert(collection_name=name, data=[{"id": i, "v": row.tolist()} for i, row in enumerate(vectors(n))])
    client.flush(collection_name=name)
    return name


def row_count(client, name: str, filter: str) -> int:
    found = client.query(collection_name=name, filter=filter, output_fields=["count(*)"], consistency_level="Strong")
    return int(found[0]["count(*)"])


@pytest.mark.lesson
def test_build_params_sent_as_keys(engine):
    client, info, _ = engine
    name = filled(client, "keys")
    described = index_and_load(client, name, "IVF_FLAT", {"nlist": 64})  # pymilvus sends nlist as its own key
    check(info, "build_params_as_keys", reported_build_params(described).get("nlist") == 64)


@pytest.mark.lesson
def test_build_params_sent_as_one_json_entry(engine):
    client, info, _ = engine
    name = filled(client, "json")
    described = index_and_load(client, name, "IVF_FLAT", {"params": json.dumps({"nlist": 64})})
    check(info, "build_params_as_json", reported_build_params(described).get("nlist") == 64)


@pytest.mark.lesson
@pytest.mark.parametrize("index_type, asked", [("IVF_FLAT", {"nlist": 64}), ("HNSW", {"M": 8, "efConstruction": 64})])
def test_engine_build_params_is_applied_on_every_engine(engine, index_type, asked):
    """Not a divergence: the shim's contract, on whatever engine this is."""
    client, info, _ = engine
    name = filled(client, "shim_" + index_type.lower())
    described = index_and_load(client, name, index_type, engine_build_params(info, asked))
    assert reported_build_params(described) == asked, (info.label, described)


@pytest.mark.lesson
def test_search_with_another_metric_than_the_index(engine):
    client, info, _ = engine
    name = filled(client, "metric")
    index_and_load(client, name, "FLAT", {}, metric="COSINE")
    try:
        client.search(
            collection_name=name,
            data=[vectors(1)[0].tolist()],
            anns_field="v",
            limit=3,
            search_params={"metric_type": "L2"},
        )
        refused = False
    except MilvusException as exc:
        assert re.search(r"metric", exc.message, re.IGNORECASE), exc.message  # refused for the metric, not else
        refused = True
    check(info, "metric_mismatch_refused", refused)


@pytest.mark.lesson
def test_insert_of_an_existing_primary_key(engine):
    client, info, _ = engine
    name = fresh_collection(client, "duplicate")
    row = {"id": 7, "v": vectors(1)[0].tolist()}
    client.insert(collection_name=name, data=[row])
    client.insert(collection_name=name, data=[row])
    client.flush(collection_name=name)
    index_and_load(client, name, "FLAT", {})
    check(info, "insert_duplicate_key_rows", row_count(client, name, "id == 7"))


def upsert_keeps_omitted(client, name: str, **kwargs) -> bool:
    """Insert a row with dynamic field ``a``, upsert it with only ``b``: is ``a`` still there?"""
    v = vectors(1)[0].tolist()
    client.insert(collection_name=name, data=[{"id": 1, "v": v, "a": 1}])
    client.upsert(collection_name=name, data=[{"id": 1, "v": v, "b": 2}], **kwargs)
    found = client.query(collection_name=name, filter="id == 1", output_fields=["*"], consistency_level="Strong")
    assert len(found) == 1 and found[0]["b"] == 2, found
    return "a" in found[0]


@pytest.mark.lesson
def test_upsert_replaces_or_merges(engine):
    client, info, _ = engine
    name = fresh_collection(client, "upsert", dynamic=True)
    index_and_load(client, name, "FLAT", {})
    check(info, "upsert_keeps_omitted_fields", upsert_keeps_omitted(client, name, partial_update=False))


@pytest.mark.lesson
def test_upsert_with_partial_update(engine):
    client, info, _ = engine
    name = fresh_collection(client, "partial", dynamic=True)
    index_and_load(client, name, "FLAT", {})
    check(info, "partial_update_merges", upsert_keeps_omitted(client, name, partial_update=True))


@pytest.mark.lesson
def test_varchar_max_length_unit(engine):
    client, info, _ = engine
    name = fresh_collection(client, "varchar", text_length=4)
    text = "한국어"  # 3 characters, 9 UTF-8 bytes: fits max_length=4 only when it counts characters
    assert len(text) == 3 and len(text.encode()) == 9
    v = vectors(1)[0].tolist()
    with quiet_pymilvus(), pytest.raises(Exception, match=r"(?i)length|exceed|max"):  # 5 characters: too long
        client.insert(collection_name=name, data=[{"id": 1, "v": v, "text": "abcde"}])
    try:
        with quiet_pymilvus():
            client.insert(collection_name=name, data=[{"id": 2, "v": v, "text": text}])
        unit = "characters"
    except Exception as exc:  # pymilvus checks before sending (ParamError) or the engine refuses (MilvusException)
        assert re.search(r"(?i)length|exceed|max", str(exc)), exc
        unit = "bytes"
    check(info, "varchar_length_unit", unit)


@pytest.mark.lesson
def test_num_shards_created_vs_described(engine):
    client, info, _ = engine
    name = fresh_collection(client, "shards", num_shards=2)
    check(info, "num_shards_described", client.describe_collection(collection_name=name)["num_shards"])


@pytest.mark.lesson
def test_single_query_cost(engine, record_property):
    """One search's p50 on 5,000 × 64 FLAT: Lite's per-call cost is a Python walk over the rows."""
    client, info, _ = engine
    name = PREFIX + "latency"
    if client.has_collection(collection_name=name):
        client.drop_collection(collection_name=name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="v", datatype=DataType.FLOAT_VECTOR, dim=64)
    client.create_collection(collection_name=name, schema=schema)
    base = np.random.default_rng(1).standard_normal((5000, 64)).astype(np.float32)
    client.insert(collection_name=name, data=[{"id": i, "v": row.tolist()} for i, row in enumerate(base)])
    client.flush(collection_name=name)
    index_and_load(client, name, "FLAT", {})
    queries = base[:60].tolist()
    timing = time_calls(
        lambda q: client.search(collection_name=name, data=[q], anns_field="v", limit=10), queries, warmup=10
    )
    record_property("single_query_p50_ms", round(timing.p50_ms, 2))
    print(f"\n{info.label}: single-query p50 {timing.p50_ms:.2f} ms, p95 {timing.p95_ms:.2f} ms (5,000 × 64, FLAT)")
    bound = info.behaviour("single_query_p50_ms_max")
    assert timing.p50_ms <= bound, (
        f"{info.label}: single-query p50 {timing.p50_ms:.1f} ms is over the register's bound {bound} ms "
        "(single_query_p50_ms_max in common/divergences.py); on an idle machine this means the engine got slower"
    )


SECOND_WRITER = """
import sys
from pymilvus import MilvusClient
client = MilvusClient(uri=sys.argv[1])
client.insert(collection_name=sys.argv[2], data=[{"id": 10_000, "v": [0.5] * 8}])
client.flush(collection_name=sys.argv[2])
print("wrote")
"""


@pytest.mark.lesson
def test_a_second_process_writing(engine):
    """While this process holds the database, does another process's insert land?"""
    client, info, uri = engine
    name = filled(client, "second_writer", n=10)
    done = subprocess.run(
        [sys.executable, "-c", SECOND_WRITER, uri, name], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    index_and_load(client, name, "FLAT", {})
    wrote = done.returncode == 0 and "wrote" in done.stdout
    if wrote:
        assert row_count(client, name, "id == 10000") == 1, "the second process said it wrote, the row is not there"
    else:
        assert done.stderr.strip(), done  # refused with a message
    check(info, "second_process_can_write", wrote)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_every_engine_has_a_recorded_value(name):
    for kind, raw in (("lite", "milvus_lite 3.2.2"), ("server", "v2.3.5"), ("server", "v2.6.4")):
        describe(kind, raw).behaviour(name)  # no KeyError
    assert DIVERGENCES[name].question and DIVERGENCES[name].course


def test_every_register_entry_is_measured_here():
    source = (REPO_ROOT / "tests/test_divergence.py").read_text()
    unmeasured = [name for name in DIVERGENCES if f'"{name}"' not in source.split("def test_every_engine_has")[0]]
    assert not unmeasured, f"register entries no test measures: {unmeasured}"


def test_troubleshooting_table_lists_the_register():
    """docs/troubleshooting.md has one row per register entry (the entry's name in the first column)."""
    text = (REPO_ROOT / "docs/troubleshooting.md").read_text()
    start = text.index("<!-- divergences:begin -->")
    end = text.index("<!-- divergences:end -->")
    rows = [line for line in text[start:end].splitlines() if line.startswith("| `")]
    names = [re.match(r"\| `([a-z0-9_]+)`", row)[1] for row in rows]
    assert names == list(DIVERGENCES), names
    for row, name in zip(rows, DIVERGENCES):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        entry = DIVERGENCES[name]
        assert str(entry.lite) in cells[2] and str(entry.server) in cells[3], (name, cells)
