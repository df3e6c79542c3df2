# %% [markdown]
"""
Schema evolution: nullable fields and defaults, adding and altering fields, time and geometry types.

What you learn
  - nullable fields and default values (Milvus 2.5): what a query returns for a value that was
    never given, and `IS NULL` / `IS NOT NULL` filters, each checked against the rows we inserted;
  - adding a field to a collection that already holds rows (`add_collection_field`, Milvus 2.6):
    old rows read it back as null;
  - raising a VARCHAR's `max_length` in place (`alter_collection_field`, Milvus 2.5);
  - TIMESTAMPTZ (Milvus 2.6.6): timestamps written with different UTC offsets, filtered by a time
    range whose ids are computed independently in Python;
  - GEOMETRY (Milvus 2.6.4): points in WKT and an `ST_WITHIN` filter, checked by point-in-box arithmetic;
  - TEXT (3.0), arrays of structs (2.6.4) and nullable vectors (2.6.18): the request each one is,
    and which engine here takes it.

Every section runs on each engine that has the feature and otherwise prints
`skipped: needs <capability> (have <engine> <version>)`.

Prerequisites  03_schema_and_collections, 04_insert_and_search
Run            python step01_basics/05_schema_evolution.py [--uri URI] [--n 400]
Docs           docs/step01_basics.md, section "05 스키마 진화"
"""

# %%
from __future__ import annotations

import datetime as dt

from common import cli
from common.connection import quiet_pymilvus
from common.engine import REFUSED
from common.report import heading, table
from common.rows import drop_if_exists

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s1_l5_"
PRODUCTS = PREFIX + "products"
EVENTS = PREFIX + "events"
PLACES = PREFIX + "places"
DIM = 8
BOX = (2.0, 2.0, 6.0, 5.0)  # min x, min y, max x, max y of the ST_WITHIN polygon
SINCE = {"text_type": (3, 0, 0), "struct_array": (2, 6, 4), "nullable_vector": (2, 6, 18)}  # first server release
WINDOW = ("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")  # the TIMESTAMPTZ range filter: [start, end)


def flat_index():
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    return index_params


# %% [markdown]
# ## Nullable fields and default values


# %%
# docs:begin nullable
def create_products(client) -> None:
    """`price` may be null; `stock` falls back to 0 and `label` to "n/a" when a row leaves them out."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="name", datatype=DataType.VARCHAR, max_length=16)
    schema.add_field(
        field_name="price",
        datatype=DataType.FLOAT,
        nullable=True,  # a row may omit it or send None; a query returns None
    )
    schema.add_field(
        field_name="stock",
        datatype=DataType.INT64,  # pymilvus 3.0.2 encodes an integer default as INT64 whatever the field's type
        default_value=0,  # used when a row omits the field (not nullable: None is refused)
    )
    schema.add_field(field_name="label", datatype=DataType.VARCHAR, max_length=16, nullable=True, default_value="n/a")
    schema.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    drop_if_exists(client, PRODUCTS)
    client.create_collection(
        collection_name=PRODUCTS, schema=schema, index_params=flat_index(), consistency_level="Strong"
    )


def read_back_nulls(client) -> dict:
    """What the engine returns for each product, and the ids each null filter selects."""
    rows = client.query(collection_name=PRODUCTS, filter="id >= 0", output_fields=["price", "stock", "label"])
    return {
        "rows": {row["id"]: {k: row[k] for k in ("price", "stock", "label")} for row in rows},
        "price IS NULL": sorted(r["id"] for r in client.query(collection_name=PRODUCTS, filter="price IS NULL")),
        "price IS NOT NULL": sorted(
            r["id"] for r in client.query(collection_name=PRODUCTS, filter="price IS NOT NULL")
        ),
    }


# docs:end


def product_rows(n: int, rng) -> list[dict]:
    """Every third row has no price (left out or None), every fourth no stock, every fifth a None label."""
    rows = []
    for i in range(n):
        row = {"id": i, "name": f"p{i}", "vector": rng.random(DIM).tolist()}
        if i % 3:
            row["price"] = float(10 + i)
        elif i % 2:
            row["price"] = None  # explicit null; the other third simply leaves the key out
        if i % 4:
            row["stock"] = i
        row["label"] = None if i % 5 == 0 else f"l{i}"
        rows.append(row)
    return rows


def expected_nulls(rows: list[dict]) -> dict:
    """The documented answer, from the rows alone: null stays None, a missing default field reads its default,
    and a None sent to a nullable field that has a default reads the default too."""
    expected = {
        r["id"]: {"price": r.get("price"), "stock": r.get("stock", 0), "label": r["label"] or "n/a"} for r in rows
    }
    return {
        "rows": expected,
        "price IS NULL": sorted(i for i, e in expected.items() if e["price"] is None),
        "price IS NOT NULL": sorted(i for i, e in expected.items() if e["price"] is not None),
    }


def nullable_section(client, info, n: int, rng) -> dict:
    heading("1. Nullable fields and default values (Milvus 2.5)")
    if not info.has("nullable_fields"):
        print(info.skip_reason("nullable_fields"))
        return {"skipped": info.skip_reason("nullable_fields")}
    rows = product_rows(n, rng)
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            create_products(client)
            client.insert(collection_name=PRODUCTS, data=rows)
            got = read_back_nulls(client)
    except REFUSED as exc:
        line = "nullable_fields: " + info.refusal(exc)
        print(line)
        return {"refused": line}
    want = expected_nulls(rows)
    wrong = [i for i in want["rows"] if got["rows"].get(i) != want["rows"][i]]
    table(
        [
            {"id": i, "sent": {k: rows[i].get(k, "(left out)") for k in ("price", "stock", "label")}, **got["rows"][i]}
            for i in range(min(6, n))
        ]
    )
    table(
        [
            {"filter": f, "ids": len(got[f]), "expected": len(want[f]), "same ids": got[f] == want[f]}
            for f in ("price IS NULL", "price IS NOT NULL")
        ]
    )
    print(f"rows read back as documented: {n - len(wrong)} of {n}")
    return {
        "rows_as_documented": n - len(wrong),
        "filters_match": all(got[f] == want[f] for f in ("price IS NULL", "price IS NOT NULL")),
        "null_ids": len(want["price IS NULL"]),
    }


# %% [markdown]
# ## Add a field, raise a VARCHAR's max_length


# %%
# docs:begin add-alter
def add_rating_field(client) -> None:
    """A new nullable field on a collection that already holds rows: old rows read it back as null."""
    client.add_collection_field(
        collection_name=PRODUCTS,
        field_name="rating",  # the new field
        data_type=DataType.INT64,
        nullable=True,  # required: the rows already stored have no value for it
    )


def widen_name(client, max_length: int) -> None:
    """Raise the VARCHAR limit in place: no reindex, no copy of the data."""
    client.alter_collection_field(
        collection_name=PRODUCTS,
        field_name="name",
        field_params={"max_length": max_length},  # only some params may change; max_length may grow
    )


# docs:end


def add_field_section(client, info, rng) -> dict:
    heading("2. Add a field to a populated collection (Milvus 2.6)")
    if not info.has("add_field") or not client.has_collection(PRODUCTS):
        reason = info.skip_reason("add_field")
        print(reason)
        return {"skipped": reason}
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            add_rating_field(client)
            client.insert(
                collection_name=PRODUCTS,
                data=[{"id": 10_000, "name": "new", "rating": 5, "vector": rng.random(DIM).tolist()}],
            )
            got = client.query(collection_name=PRODUCTS, filter="id in [0, 10000]", output_fields=["rating"])
    except REFUSED as exc:
        line = "add_field: " + info.refusal(exc)
        print(line)
        return {"refused": line}
    ratings = {row["id"]: row["rating"] for row in got}
    table(
        [
            {"row": "stored before the field existed (id 0)", "rating": ratings.get(0)},
            {"row": "inserted after (id 10000)", "rating": ratings.get(10_000)},
        ]
    )
    return {"old_row_rating": ratings.get(0), "new_row_rating": ratings.get(10_000)}


def alter_section(client, info, rng) -> dict:
    heading("3. Raise a VARCHAR's max_length in place (alter_collection_field, Milvus 2.5)")
    if not info.has("alter_field") or not client.has_collection(PRODUCTS):
        reason = info.skip_reason("alter_field")
        print(reason)
        return {"skipped": reason}
    long_row = {"id": 10_001, "name": "x" * 40, "vector": rng.random(DIM).tolist()}
    try:
        with quiet_pymilvus():  # the refusal is the point; pymilvus would log a traceback
            client.insert(collection_name=PRODUCTS, data=[long_row])
        refused_before = False
    except MilvusException:
        refused_before = True  # 40 characters > max_length 16
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            widen_name(client, 64)
            client.insert(collection_name=PRODUCTS, data=[long_row])
    except REFUSED as exc:
        line = "alter_field: " + info.refusal(exc)
        print(line)
        return {"refused": line}
    described = next(f for f in client.describe_collection(PRODUCTS)["fields"] if f["name"] == "name")
    stored = client.query(collection_name=PRODUCTS, filter="id == 10001", output_fields=["name"])
    print(
        f"40-character name refused at max_length 16: {refused_before}; after the alter: max_length "
        f"{described['params']['max_length']}, stored {len(stored[0]['name']) if stored else 0} characters"
    )
    return {
        "refused_before": refused_before,
        "max_length": int(described["params"]["max_length"]),
        "stored_after": bool(stored),
    }


# %% [markdown]
# ## TIMESTAMPTZ: a time-range filter


# %%
# docs:begin timestamptz
def create_events(client) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="at", datatype=DataType.TIMESTAMPTZ)  # an instant; any UTC offset on input
    schema.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    drop_if_exists(client, EVENTS)
    client.create_collection(
        collection_name=EVENTS, schema=schema, index_params=flat_index(), consistency_level="Strong"
    )


def events_in_window(client, start: str, end: str) -> list[int]:
    """Events with start <= at < end; ISO '...' marks a timestamp literal in a filter."""
    hits = client.query(collection_name=EVENTS, filter=f"at >= ISO '{start}' and at < ISO '{end}'", limit=16384)
    return sorted(hit["id"] for hit in hits)


# docs:end


def event_rows(n: int, rng) -> list[dict]:
    """Instants spread over the first half of 2025, each written in one of three UTC offsets."""
    base = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    zones = [dt.timezone.utc, dt.timezone(dt.timedelta(hours=9)), dt.timezone(dt.timedelta(hours=-5))]
    minutes = rng.integers(0, 181 * 24 * 60, size=n)
    return [
        {
            "id": i,
            "at": (base + dt.timedelta(minutes=int(m))).astimezone(zones[i % 3]).isoformat(),
            "vector": rng.random(DIM).tolist(),
        }
        for i, m in enumerate(minutes)
    ]


def timestamptz_section(client, info, n: int, rng) -> dict:
    heading("4. TIMESTAMPTZ: a time-range filter (Milvus 2.6.6)")
    if not info.has("timestamptz"):
        print(info.skip_reason("timestamptz"))
        return {"skipped": info.skip_reason("timestamptz")}
    if line := info.not_sent("timestamptz", (2, 6, 6)):
        print(line)
        return {"refused": line}
    rows = event_rows(n, rng)
    start, end = (dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in WINDOW)
    expected = sorted(r["id"] for r in rows if start <= dt.datetime.fromisoformat(r["at"]) < end)
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            create_events(client)
            client.insert(collection_name=EVENTS, data=rows)
            got = events_in_window(client, *WINDOW)
            sample = client.query(collection_name=EVENTS, filter="id == 1", output_fields=["at"])[0]["at"]
    except REFUSED as exc:
        line = "timestamptz: " + info.refusal(exc)
        print(line)
        return {"refused": line}
    print(f"row 1 written as {rows[1]['at']}, read back as {sample}")
    table(
        [
            {
                "filter": f"at in [{WINDOW[0]}, {WINDOW[1]})",
                "ids": len(got),
                "expected (Python datetime)": len(expected),
                "same ids": got == expected,
            }
        ]
    )
    return {"window_ids": len(got), "expected_ids": len(expected), "same_ids": got == expected}


# %% [markdown]
# ## GEOMETRY: vector search inside a polygon


# %%
# docs:begin geometry
def create_places(client) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="location", datatype=DataType.GEOMETRY)  # WKT in, WKT out: 'POINT (x y)'
    schema.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    drop_if_exists(client, PLACES)
    client.create_collection(
        collection_name=PLACES, schema=schema, index_params=flat_index(), consistency_level="Strong"
    )


def nearest_in_box(client, query: list[float], box: tuple[float, float, float, float], k: int) -> list[int]:
    """Vector search restricted to places inside a polygon (here an axis-aligned box)."""
    x0, y0, x1, y1 = box
    polygon = f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"
    hits = client.search(
        collection_name=PLACES,
        data=[query],
        limit=k,
        filter=f"ST_WITHIN(location, '{polygon}')",
        search_params={"metric_type": "L2"},
    )
    return [hit["id"] for hit in hits[0]]


# docs:end


def geometry_section(client, info, n: int, rng) -> dict:
    heading("5. GEOMETRY: vector search inside a polygon (Milvus 2.6.4)")
    if not info.has("geometry"):
        print(info.skip_reason("geometry"))
        return {"skipped": info.skip_reason("geometry")}
    if line := info.not_sent("geometry", (2, 6, 4)):
        print(line)
        return {"refused": line}
    points = np.round(rng.uniform(0, 10, size=(n, 2)), 3) + 0.0005  # never exactly on the box's edge
    vectors = rng.random((n, DIM)).astype(np.float32)
    x0, y0, x1, y1 = BOX
    inside = [i for i, (x, y) in enumerate(points) if x0 < x < x1 and y0 < y < y1]
    k = 10
    query = rng.random(DIM).astype(np.float32)
    distances = ((vectors[inside] - query) ** 2).sum(axis=1)
    expected = [inside[j] for j in np.argsort(distances)[:k]]
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            create_places(client)
            client.insert(
                collection_name=PLACES,
                data=[
                    {"id": i, "location": f"POINT ({x:.4f} {y:.4f})", "vector": vectors[i].tolist()}
                    for i, (x, y) in enumerate(points)
                ],
            )
            got = nearest_in_box(client, query.tolist(), BOX, k)
    except REFUSED as exc:
        line = "geometry: " + info.refusal(exc)
        print(line)
        return {"refused": line}
    print(f"{len(inside)} of {n} places lie inside the box {BOX} (point-in-box arithmetic)")
    table(
        [
            {
                "search": f"top-{k} inside the box",
                "ids in the box": sum(i in inside for i in got),
                "same ids as NumPy": got == expected,
            }
        ]
    )
    if info.kind == "lite":
        print("Milvus Lite scans every point for ST_WITHIN (it has no RTREE index); a server can index the field.")
    return {"inside": len(inside), "hits_inside": sum(i in inside for i in got), "same_ids": got == expected}


# %% [markdown]
# ## TEXT, arrays of structs, nullable vectors


# %%
def new_type_requests() -> dict:
    """The schema for each newer type: built on the client; the engine decides whether it takes it."""
    text = MilvusClient.create_schema(auto_id=False)
    text.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    text.add_field(field_name="body", datatype=DataType.TEXT)  # long text without a max_length (3.0)
    text.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    chunk = MilvusClient.create_struct_field_schema()  # one element of an array of structs (2.6.4)
    chunk.add_field(field_name="text", datatype=DataType.VARCHAR, max_length=64)
    chunk.add_field(field_name="page", datatype=DataType.INT32)
    struct = MilvusClient.create_schema(auto_id=False)
    struct.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    struct.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    struct.add_field(
        field_name="chunks", datatype=DataType.ARRAY, element_type=DataType.STRUCT, struct_schema=chunk, max_capacity=8
    )
    nullable_vector = MilvusClient.create_schema(auto_id=False)
    nullable_vector.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    nullable_vector.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM, nullable=True)  # 2.6.18
    rows = {
        "text_type": {"id": 1, "body": "a long body " * 50, "vector": [0.1] * DIM},
        "struct_array": {"id": 1, "vector": [0.1] * DIM, "chunks": [{"text": "intro", "page": 1}]},
        "nullable_vector": {"id": 1, "vector": None},
    }
    return {
        cap: (schema, rows[cap])
        for cap, schema in (("text_type", text), ("struct_array", struct), ("nullable_vector", nullable_vector))
    }


def new_types_section(client, info) -> list[str]:
    heading("6. TEXT, arrays of structs, nullable vectors (Milvus 3.0 / 2.6.4 / 2.6.18)")
    lines, rows = [], []
    for capability, (schema, row) in new_type_requests().items():
        name = f"{PREFIX}{capability}"
        if not info.has(capability):
            lines.append(info.skip_reason(capability))
            rows.append({"type": capability, "result": lines[-1]})
            continue
        if line := info.not_sent(capability, SINCE[capability]):
            lines.append(line)
            rows.append({"type": capability, "result": line})
            continue
        try:
            with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
                drop_if_exists(client, name)
                client.create_collection(collection_name=name, schema=schema, consistency_level="Strong")
                client.insert(collection_name=name, data=[row])
                got = client.query(collection_name=name, filter="id == 1", output_fields=["*"])
                result = f"stored and read back: {sorted(got[0]) if got else 'nothing'}"
        except REFUSED as exc:
            lines.append(f"{capability}: " + info.refusal(exc))
            result = lines[-1]
        finally:
            drop_if_exists(client, name)
        rows.append({"type": capability, "result": result})
    table(rows)
    return lines


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(30, 100_000), default=400, help="rows per collection (default 400)")
    parser.add_argument("--seed", type=cli.SEED, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with cli.engine(args.uri) as (client, info):
        nullable = nullable_section(client, info, args.n, rng)
        added = add_field_section(client, info, rng)
        altered = alter_section(client, info, rng)
        times = timestamptz_section(client, info, args.n, rng)
        places = geometry_section(client, info, args.n, rng)
        new_types = new_types_section(client, info)
        for name in (PRODUCTS, EVENTS, PLACES):
            drop_if_exists(client, name)
    sections = {
        "nullable_fields": nullable,
        "add_field": added,
        "alter_field": altered,
        "timestamptz": times,
        "geometry": places,
    }
    lines = [s[k] for s in sections.values() for k in ("skipped", "refused") if k in s] + new_types
    return {
        "headline": f"{sum(1 for s in sections.values() if not set(s) & {'skipped', 'refused'})} of 5 schema "
        f"features ran; {len(lines)} named skips or refusals",
        "engine": info.kind,
        **sections,
        "skipped": [line for line in lines if line.startswith("skipped")],
        "refused": [line for line in lines if "refused by" in line],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
