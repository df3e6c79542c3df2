# %% [markdown]
"""
Upsert and delete: what survives an upsert, where deleted rows go, and rows that expire by themselves.

What you learn
  - upsert in override mode (every Milvus with upsert) replaces the whole row, and in merge mode
    (`partial_update=True`, Milvus 2.6.2) changes only the fields sent: measured on the rows, field by field;
  - that Milvus Lite merges on every upsert and ignores `partial_update` (a divergence, named when seen);
  - what an upsert does to the primary key of an auto_id collection, on the engine you have;
  - "my inserted rows are not visible" and "collection not loaded": the consistency level and the load
    step behind each, shown on the engine;
  - delete by expression: what count(*) and search see right after it, and what compaction changes;
  - collection TTL (`collection.ttl.seconds`) and per-row TTL (a TIMESTAMPTZ `ttl_field`, Milvus 3.0),
    with the expiry observed where the engine applies it.

Prerequisites  04_insert_and_search
Run            python step01_basics/06_upsert_and_delete.py [--uri URI] [--n 2000] [--ttl 2]
Docs           docs/step01_basics.md, section "06 upsert와 삭제"
"""

# %%
from __future__ import annotations

import datetime as dt
import time

from common import cli
from common.connection import quiet_pymilvus
from common.engine import REFUSED
from common.report import heading, table
from common.rows import count_rows, drop_if_exists

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s1_l6_"
ITEMS = PREFIX + "items"
AUTO = PREFIX + "auto"
PLAIN = PREFIX + "unloaded"
EXPIRING = PREFIX + "expiring"
DIM = 8
FIELDS = ("title", "views", "color")  # two schema fields and one dynamic key


# %% [markdown]
# ## The items collection


# %%
def flat_index():
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    return index_params


def create_items(client, name: str = ITEMS, auto_id: bool = False, properties: dict | None = None) -> None:
    schema = MilvusClient.create_schema(auto_id=auto_id, enable_dynamic_field=True)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True, auto_id=auto_id)
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=32)
    schema.add_field(field_name="views", datatype=DataType.INT64)
    schema.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    drop_if_exists(client, name)
    client.create_collection(
        collection_name=name,
        schema=schema,
        index_params=flat_index(),
        consistency_level="Strong",
        properties=properties or {},  # collection properties, e.g. {"collection.ttl.seconds": 3600}
    )


# %% [markdown]
# ## Upsert: override vs merge


# %%
# docs:begin upsert-modes
def upsert_override(client, vector: list[float]) -> None:
    """Override (the default): the row sent replaces the stored one; keys it leaves out are gone."""
    client.upsert(collection_name=ITEMS, data=[{"id": 1, "title": "rewritten", "views": 11, "vector": vector}])


def upsert_merge(client) -> None:
    """Merge (Milvus 2.6.2+): only the fields sent change; title, vector and dynamic keys stay."""
    client.upsert(
        collection_name=ITEMS,
        data=[{"id": 2, "views": 99}],  # the primary key and the fields to change, nothing else
        partial_update=True,  # merge mode; without it a row missing a required field is refused
    )


# docs:end


def survivors(client, key: int) -> dict:
    row = client.get(collection_name=ITEMS, ids=[key], output_fields=["*"])[0]
    return {field: row.get(field, "(gone)") for field in FIELDS}


def upsert_section(client, info, rng) -> tuple[dict, list[str]]:
    heading("1. Upsert: override vs merge, measured on the rows")
    create_items(client)
    client.insert(
        collection_name=ITEMS,
        data=[
            {"id": i, "title": f"t{i}", "views": i, "color": "red", "vector": rng.random(DIM).tolist()} for i in (1, 2)
        ],
    )
    upsert_override(client, rng.random(DIM).tolist())
    override = survivors(client, 1)
    kept = override["color"] != "(gone)"
    lines = []
    if kept != info.behaviour("upsert_keeps_omitted_fields"):
        raise AssertionError(f"override upsert kept the dynamic key: {kept}; the divergence register says otherwise")
    if kept:
        lines.append(
            f"divergence: {info.label} merges on every upsert (partial_update ignored); a server's "
            "override upsert drops the keys the new row leaves out"
        )
    rows = [{"mode": "override (id 1: title, views, vector sent)", **override}]
    if info.has("partial_update"):
        try:
            with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
                upsert_merge(client)
                rows.append({"mode": "merge (id 2: only views sent)", **survivors(client, 2)})
        except REFUSED as exc:
            lines.append("partial_update: " + info.refusal(exc))
    else:
        lines.append(info.skip_reason("partial_update"))
    table(rows)
    print("\n".join(lines))
    merge = {field: rows[1][field] for field in FIELDS} if len(rows) > 1 else None
    return {"override": override, "merge": merge}, lines


# %% [markdown]
# ## Upsert on an auto_id collection


# %%
def autoid_section(client, rng) -> dict:
    """Upsert a row of an auto_id collection by its own key: which key does the row have afterwards?"""
    heading("2. Upsert on an auto_id collection: what happens to the primary key")
    create_items(client, AUTO, auto_id=True)
    first = client.insert(collection_name=AUTO, data=[{"title": "a", "views": 1, "vector": rng.random(DIM).tolist()}])
    key = first["ids"][0]
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            client.upsert(
                collection_name=AUTO, data=[{"id": key, "title": "b", "views": 2, "vector": rng.random(DIM).tolist()}]
            )
    except MilvusException as exc:  # what this engine does is the subject here, so a refusal is the answer
        kind, outcome = "refused", f"refused: {exc.message.splitlines()[0][:120]}"
    else:
        ids = [row["id"] for row in client.query(collection_name=AUTO, filter="views >= 0", output_fields=["id"])]
        kind = "kept" if ids == [key] else "new" if len(ids) == 1 else "duplicated"
        outcome = {"kept": "the key is kept", "new": f"the row now has key {ids[0]}"}.get(kind, f"{len(ids)} rows")
    print(f"inserted key {key}; upsert with that key: {outcome}")
    print(
        "Milvus docs (2.6+): on an auto_id collection an upsert generates a new primary key, so keep your own\n"
        "business key in a separate field (or use auto_id=False) when rows must be found again by key."
    )
    drop_if_exists(client, AUTO)
    return {"outcome": kind, "detail": outcome}


# %% [markdown]
# ## Inserted rows not visible? Collection not loaded?


# %%
def visibility_section(client, info, rng) -> dict:
    """The two questions learners ask most: "where are my rows?" and "collection not loaded"."""
    heading("3. Inserted rows not visible? Collection not loaded?")
    create_items(client, PLAIN)
    client.release_collection(collection_name=PLAIN)  # as after a restart, or a collection created without index
    rows = [{"id": i, "title": "v", "views": i, "vector": rng.random(DIM).tolist()} for i in range(100)]
    client.insert(collection_name=PLAIN, data=rows)
    try:
        with quiet_pymilvus():  # pymilvus logs the refusal with a traceback; the table below shows it
            client.query(collection_name=PLAIN, filter="views >= 0", limit=5)
        unloaded = "answered (this engine loads on demand)"
    except MilvusException as exc:
        unloaded = f"refused: {exc.message.splitlines()[0][:100]}"
    client.load_collection(collection_name=PLAIN)
    seen = {}
    for level in ("Eventually", "Strong"):
        client.insert(collection_name=PLAIN, data=[dict(r, id=r["id"] + 1000 * (len(seen) + 1)) for r in rows])
        seen[level] = len(
            client.query(collection_name=PLAIN, filter="views >= 0", limit=16384, consistency_level=level)
        )
    table(
        [
            {"read": "query on a released collection", "result": unloaded},
            {"read": "query right after insert, Eventually", "result": f"{seen['Eventually']} of 200 rows seen"},
            {"read": "query right after insert, Strong", "result": f"{seen['Strong']} of 300 rows seen"},
        ]
    )
    print(
        "Fixes: load_collection() (or create_collection with index_params, which loads) before reading; read with\n"
        "consistency_level='Strong' (or 'Session' from the writing client) when a read must see the last write.\n"
        "flush() is not needed for visibility: it seals segments for indexing and persistence."
    )
    drop_if_exists(client, PLAIN)
    return {
        "unloaded_query": unloaded.split(":")[0].split(" ")[0],
        "strong_seen": seen["Strong"],
        "eventually_seen": seen["Eventually"],
    }


# %% [markdown]
# ## Delete by expression; what compaction changes


# %%
# docs:begin delete-compact
def delete_and_compact(client, cutoff: int) -> dict:
    """Delete by expression, then ask for compaction (which rewrites segments without the deleted rows)."""
    before = count_rows(client, ITEMS)  # count(*) with Strong consistency
    client.delete(
        collection_name=ITEMS,
        filter=f"views < {cutoff}",  # any boolean expression; ids=[...] deletes by key
    )
    counted = count_rows(client, ITEMS)  # deleted rows are gone from count(*) at once
    client.flush(collection_name=ITEMS)
    job = client.compact(collection_name=ITEMS)  # asynchronous: returns a job id
    return {"deleted": before - counted, "count_after_delete": counted, "job": job}


# docs:end


def delete_section(client, info, n: int, rng) -> dict:
    heading("4. Delete by expression; what compaction changes")
    create_items(client)
    vectors = rng.random((n, DIM)).astype(np.float32)
    client.insert(
        collection_name=ITEMS,
        data=[{"id": i, "title": f"t{i}", "views": int(i % 100), "vector": vectors[i].tolist()} for i in range(n)],
    )
    cutoff = 30
    expected_left = sum(1 for i in range(n) if i % 100 >= cutoff)
    got = delete_and_compact(client, cutoff)
    hits = client.search(collection_name=ITEMS, data=vectors[:20].tolist(), limit=5, output_fields=["views"])
    deleted_in_results = sum(hit["entity"]["views"] < cutoff for query in hits for hit in query)
    state, waited = "no job", 0.0
    if info.has("compaction"):
        start = time.monotonic()
        while (state := str(client.get_compaction_state(got["job"]))) not in ("Completed", "Failed", "2"):
            if time.monotonic() - start > 15:
                break
            time.sleep(0.5)
        waited = time.monotonic() - start
    else:
        state = f"{info.skip_reason('compaction')}: compact() returned job id {got['job']}, nothing to wait for"
    table(
        [
            {"check": "rows deleted (expression views < 30)", "got": got["deleted"], "expected": n - expected_left},
            {"check": "count(*) right after delete", "got": got["count_after_delete"], "expected": expected_left},
            {"check": "deleted rows among 100 search hits", "got": deleted_in_results, "expected": 0},
            {"check": "count(*) after compaction", "got": count_rows(client, ITEMS), "expected": expected_left},
        ]
    )
    print(f"compaction: {state}" + (f" after {waited:.1f} s" if waited else ""))
    print("Deletes are visible at once (a delete log masks the rows); compaction reclaims the space later.")
    return {
        "deleted": got["deleted"],
        "count_after_delete": got["count_after_delete"],
        "expected": expected_left,
        "deleted_in_results": deleted_in_results,
        "compaction": state,
    }


# %% [markdown]
# ## Collection TTL and per-row TTL


# %%
# docs:begin ttl
def create_expiring(client, ttl_s: int) -> None:
    """Every row expires ttl_s seconds after it was written (collection TTL, a property)."""
    create_items(client, EXPIRING, properties={"collection.ttl.seconds": ttl_s})


def create_entity_ttl(client) -> None:
    """Each row carries its own expiry instant (Milvus 3.0): ttl_field names a TIMESTAMPTZ field."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="expire_at", datatype=DataType.TIMESTAMPTZ, nullable=True)  # null: never expires
    schema.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    drop_if_exists(client, EXPIRING)
    client.create_collection(
        collection_name=EXPIRING,
        schema=schema,
        index_params=flat_index(),
        consistency_level="Strong",
        properties={"ttl_field": "expire_at"},  # not together with collection.ttl.seconds
    )


# docs:end


def ttl_section(client, info, ttl_s: int, rng) -> tuple[dict, list[str]]:
    heading(f"5. Collection TTL: rows written, then counted {ttl_s + 1} s later (TTL {ttl_s} s)")
    create_expiring(client, ttl_s)
    client.insert(
        collection_name=EXPIRING,
        data=[{"id": i, "title": "e", "views": i, "vector": rng.random(DIM).tolist()} for i in range(50)],
    )
    time.sleep(ttl_s + 1)
    visible = count_rows(client, EXPIRING)
    print(f"rows visible {ttl_s + 1} s after they were written with a {ttl_s} s TTL: {visible} of 50")
    lines = []
    if not info.has("collection_ttl"):
        lines.append(
            info.skip_reason("collection_ttl") + f" (measured: the property is stored, {visible} of 50 "
            "rows still visible)"
        )
    elif visible:
        lines.append("collection_ttl: " + info.not_honoured(f"{visible} of 50 rows visible after their TTL"))
    drop_if_exists(client, EXPIRING)
    print("\n".join(lines))
    return {"visible_after_ttl": visible}, lines


def entity_ttl_section(client, info, rng) -> tuple[dict, list[str]]:
    heading("6. Per-row TTL: a TIMESTAMPTZ ttl_field (Milvus 3.0)")
    if not info.has("entity_ttl"):
        print(info.skip_reason("entity_ttl"))
        return {}, [info.skip_reason("entity_ttl")]
    if line := info.not_sent("entity_ttl", (2, 6, 6)):  # the TTL field is a TIMESTAMPTZ
        print(line)
        return {}, [line]
    now = dt.datetime.now(dt.timezone.utc)
    soon, later = (now + dt.timedelta(seconds=2)).isoformat(), (now + dt.timedelta(hours=1)).isoformat()
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            create_entity_ttl(client)
            client.insert(
                collection_name=EXPIRING,
                data=[
                    {
                        "id": i,
                        "expire_at": soon if i % 2 else later if i % 4 else None,
                        "vector": rng.random(DIM).tolist(),
                    }
                    for i in range(40)
                ],
            )
            time.sleep(3)
            visible = count_rows(client, EXPIRING)
    except REFUSED as exc:
        return {}, ["entity_ttl: " + info.refusal(exc)]
    finally:
        drop_if_exists(client, EXPIRING)
    print(f"rows visible 3 s later: {visible} of 40 (20 expired after 2 s; 10 expire in an hour, 10 never)")
    return {"visible": visible, "expected": 20}, []


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(200, 200_000), default=2000, help="rows for the delete section")
    parser.add_argument("--ttl", type=cli.int_range(1, 30), default=2, help="collection TTL in seconds (default 2)")
    parser.add_argument("--seed", type=cli.SEED, default=6)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with cli.engine(args.uri) as (client, info):
        upserts, lines = upsert_section(client, info, rng)
        autoid = autoid_section(client, rng)
        visibility = visibility_section(client, info, rng)
        deletes = delete_section(client, info, args.n, rng)
        ttl, ttl_lines = ttl_section(client, info, args.ttl, rng)
        entity_ttl, entity_lines = entity_ttl_section(client, info, rng)
        drop_if_exists(client, ITEMS)
    lines += ttl_lines + entity_lines
    if deletes["compaction"].startswith("skipped"):
        lines.append(info.skip_reason("compaction"))
    return {
        "headline": f"override kept {sum(v != '(gone)' for v in upserts['override'].values())} of 3 fields' old "
        f"values; auto_id upsert: {autoid['outcome']}; {deletes['count_after_delete']} rows after delete",
        "engine": info.kind,
        "upsert": upserts,
        "autoid_upsert": autoid,
        "visibility": visibility,
        "delete": deletes,
        "ttl": ttl,
        "entity_ttl": entity_ttl,
        "divergences": [line for line in lines if line.startswith("divergence")],
        "skipped": [line for line in lines if line.startswith("skipped")],
        "refused": [line for line in lines if "refused by" in line or "not honoured by" in line],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
