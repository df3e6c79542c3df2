# %% [markdown]
"""
Past the top-k limit: search_iterator, offset + limit, filter templates, ORDER BY and count(*), checked in NumPy.

What you learn
  - a search returns at most 16,384 hits (limit, and offset + limit, on a server); search_iterator pages
    through a longer ranking, and every page is checked against the exact NumPy ranking;
  - offset + limit returns exactly ranks offset..offset+limit-1;
  - filter templating (Milvus 2.5): ``filter="age > {a}"`` with ``filter_params={"a": 30}``, so a long
    value list is not pasted into the expression;
  - ORDER BY on search and query (Milvus 3.0) and count(*) / grouped counts, against Python over the
    same rows — and how to notice an engine that accepts order_by_fields and ignores it.

Prerequisites  04_filtered_and_hybrid
Run            python step02_core_features/08_iterators_and_order_by.py [--n 20000] [--beyond 17000]
Docs           docs/step02_core_features.md, section "08 검색 반복자, offset, 필터 템플릿, ORDER BY"
"""

# %%
from __future__ import annotations

import time

from common import cli
from common.connection import quiet_pymilvus
from common.errors import BadInput
from common.report import heading, table
from common.rows import drop_if_exists

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l8_"
EVENTS = PREFIX + "events"
TOPK_LIMIT = 16384  # a server's maximum for limit and for offset + limit (quota: maxTopK / topk limit)


# %% [markdown]
# ## Past the top-k limit: search_iterator, offset + limit


# %%
# docs:begin iterator
def create_events(client, dim: int) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="age", datatype=DataType.INT64)
    schema.add_field(field_name="kind", datatype=DataType.VARCHAR, max_length=8)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="IP")  # exact, so NumPy agrees
    drop_if_exists(client, EVENTS)
    client.create_collection(
        collection_name=EVENTS, schema=schema, index_params=index_params, consistency_level="Strong"
    )


def iterate_all(client, query, total: int, batch: int) -> list[tuple[int, float]]:
    """Page through the best ``total`` hits, ``batch`` at a time: no single call exceeds the top-k limit."""
    iterator = client.search_iterator(
        collection_name=EVENTS,
        data=[query],  # one query vector per iterator
        anns_field="embedding",
        batch_size=batch,  # hits per next() call
        limit=total,  # stop after this many hits in all (may exceed 16,384)
        search_params={"metric_type": "IP"},
    )
    hits = []
    while page := iterator.next():  # an empty page: nothing left
        hits += [(hit["id"], hit["distance"]) for hit in page]
    iterator.close()
    return hits


def page(client, query, offset: int, limit: int) -> list[int]:
    """Ranks offset .. offset + limit - 1 (a server refuses offset + limit > 16,384)."""
    hits = client.search(
        collection_name=EVENTS,
        data=[query],
        anns_field="embedding",
        limit=limit,
        search_params={"metric_type": "IP", "offset": offset},  # skip the first `offset` hits
    )[0]
    return [hit["id"] for hit in hits]


# docs:end


# %% [markdown]
# ## Filter templates, ORDER BY, count(*)


# %%
# docs:begin templating
def templated_count(client, ages: list[int]) -> int:
    """A filter template: values travel beside the expression instead of being pasted into it (Milvus 2.5)."""
    rows = client.query(
        collection_name=EVENTS,
        filter="age in {ages} and kind == {kind}",  # {name}: a placeholder
        filter_params={"ages": ages, "kind": "click"},  # the values, typed (list of INT64, VARCHAR)
        output_fields=["count(*)"],
    )
    return rows[0]["count(*)"]


def ordered_search(client, query) -> list[dict]:
    """The 20 nearest events, returned newest first (ORDER BY on a scalar field, Milvus 3.0)."""
    return client.search(
        collection_name=EVENTS,
        data=[query],
        anns_field="embedding",
        limit=20,
        output_fields=["age"],
        order_by_fields=[{"field": "age", "order": "asc"}],  # sort the 20 hits by age, smallest first
    )[0]


def counts_by_kind(client) -> list[dict]:
    """count(*) per kind for the rows passing a filter (query aggregation, Milvus 3.0)."""
    return client.query(
        collection_name=EVENTS, filter="age < 100", output_fields=["kind", "count(*)"], group_by_fields=["kind"]
    )


# docs:end


# %% [markdown]
# ## The events


# %%
def load_events(client, base, age, kind) -> None:
    create_events(client, base.shape[1])
    for start in range(0, len(base), 5000):
        rows = [
            {"id": i, "age": int(age[i]), "kind": kind[i], "embedding": base[i].tolist()}
            for i in range(start, min(start + 5000, len(base)))
        ]
        client.insert(collection_name=EVENTS, data=rows)
    client.flush(collection_name=EVENTS)
    client.load_collection(collection_name=EVENTS)


# %% [markdown]
# ## Beyond top-k and offsets, against the exact ranking


# %%
def beyond_topk(client, info, query, exact: np.ndarray, beyond: int, batch: int) -> dict:
    """One call above the limit; then the iterator, page by page, against the exact ranking."""
    with quiet_pymilvus():
        try:
            one_call = f"returned {len(page(client, query, 0, TOPK_LIMIT + 1))} hits (no limit enforced)"
        except MilvusException as exc:
            one_call = "refused: " + exc.message.strip().splitlines()[0][:120]
    started = time.perf_counter()
    with quiet_pymilvus():  # pymilvus warns when it falls back to Search Iterator V1, and V1 about "mvccTs"
        hits = iterate_all(client, query, beyond, batch)
    seconds = time.perf_counter() - started
    print("search_iterator: where the engine has no Search Iterator V2 (Milvus 2.5.2+), pymilvus pages with V1")
    ids = [i for i, _ in hits]
    truth = exact[:beyond]
    scores = np.array([d for _, d in hits])
    return {
        f"search(limit={TOPK_LIMIT + 1})": one_call,
        "iterated hits": len(hits),
        "distinct ids": len(set(ids)),
        "same set as NumPy top": len(set(ids) & set(truth.tolist())) / beyond,
        "scores never rise": bool(np.all(np.diff(scores) <= 1e-6)),
        "seconds": round(seconds, 2),
    }


def offsets(client, query, exact: np.ndarray) -> list[dict]:
    rows = []
    for offset, limit in ((0, 10), (20, 10), (1000, 50)):
        got = page(client, query, offset, limit)
        rows.append(
            {
                "offset": offset,
                "limit": limit,
                "same ids as NumPy ranks": got == exact[offset : offset + limit].tolist(),
            }
        )
    with quiet_pymilvus():
        try:
            over = f"returned {len(page(client, query, TOPK_LIMIT - 5, 10))} hits"
        except MilvusException as exc:
            over = "refused: " + exc.message.strip().splitlines()[0][:120]
    rows.append({"offset": TOPK_LIMIT - 5, "limit": 10, "same ids as NumPy ranks": over})
    return rows


# %% [markdown]
# ## Templating, ORDER BY and counts, checked in NumPy


# %%
def templating(client, info, age, kind) -> dict:
    ages = [3, 5, 8, 13, 21, 34]
    expected = int(np.sum(np.isin(age, ages) & (np.array(kind) == "click")))
    with quiet_pymilvus():
        try:
            got = templated_count(client, ages)
        except MilvusException as exc:
            engine_says = exc.message.strip().splitlines()[0][:120]
            if info.has("filter_templating"):
                return {"refused": info.refusal(exc)}
            return {"skipped": info.skip_reason("filter_templating"), "engine says": engine_says}
    return {"count": got, "Python count": expected, "same": got == expected}


def order_by(client, info, query, age) -> dict:
    """Send ORDER BY; compare with sorting the same hits in Python. Ignored by an engine = caught here."""
    try:
        with quiet_pymilvus():
            hits = ordered_search(client, query)
    except MilvusException as exc:
        if info.has("order_by"):
            return {"refused": info.refusal(exc)}
        return {"skipped": info.skip_reason("order_by"), "engine says": exc.message.strip().splitlines()[0][:120]}
    got = [h["entity"]["age"] for h in hits]
    honoured = got == sorted(got)
    result = {"ages returned": got[:8], "sorted by age": honoured}
    if not honoured and info.has("order_by"):
        if not info.assumed:
            raise AssertionError(f"ORDER BY ignored by {info.label}: {got}")
        result["refused"] = info.not_honoured(f"order_by_fields: ages came back as {got[:6]}...")
    elif not info.has("order_by"):
        result["skipped"] = info.skip_reason("order_by") + ("" if honoured else "; sent anyway: accepted and ignored")
    return result


def aggregation(client, info, age, kind) -> dict:
    total = client.query(collection_name=EVENTS, filter="age < 100", output_fields=["count(*)"])[0]["count(*)"]
    expected = {k: int(np.sum((age < 100) & (np.array(kind) == k))) for k in sorted(set(kind))}
    result = {"count(*)": total, "Python count": int(np.sum(age < 100))}
    with quiet_pymilvus():
        try:
            grouped = {row.get("kind"): row["count(*)"] for row in counts_by_kind(client)}
        except MilvusException as exc:
            grouped = {"error": exc.message.strip().splitlines()[0][:120]}
    honoured = grouped == expected
    result.update({"grouped": grouped, "Python grouped": expected, "grouped honoured": honoured})
    if not info.has("query_aggregation"):
        result["skipped"] = info.skip_reason("query_aggregation") + ("" if honoured else "; sent anyway: not grouped")
    elif not honoured:
        if not info.assumed:
            raise AssertionError(f"group_by_fields ignored by {info.label}: {grouped}")
        result["refused"] = info.not_honoured(f"group_by_fields returned {grouped}")
    return result


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(2000, 500_000), default=20000)
    parser.add_argument("--dim", type=cli.DIM, default=16)
    parser.add_argument("--beyond", type=cli.int_range(100, 500_000), default=17000, help="hits to iterate")
    parser.add_argument("--batch", type=cli.int_range(10, 16384), default=2000)
    parser.add_argument("--seed", type=cli.SEED, default=8)
    args = parser.parse_args(argv)
    if args.beyond > args.n:
        raise BadInput(f"--beyond {args.beyond} is more than --n {args.n} rows", "use --beyond <= --n")

    rng = np.random.default_rng(args.seed)
    base = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    query = rng.normal(size=args.dim).astype(np.float32)
    exact = np.argsort(-(base @ query), kind="stable")  # the exact IP ranking of every row
    age = rng.integers(0, 365, size=args.n)
    kind = [("click", "view", "buy")[i] for i in rng.integers(0, 3, size=args.n)]
    with cli.engine(args.uri) as (client, info):
        load_events(client, base, age, kind)
        results = sections(client, info, query.tolist(), exact, age, kind, args)
        drop_if_exists(client, EVENTS)
    return finish(info, results)


def sections(client, info, query, exact, age, kind, args) -> dict:
    heading(f"1. Past the top-k limit ({TOPK_LIMIT}): one call, then search_iterator")
    iterated = beyond_topk(client, info, query, exact, args.beyond, args.batch)
    table([iterated])
    heading("2. offset + limit, against the exact ranking")
    paged = offsets(client, query, exact)
    table(paged)
    heading("3. Filter templating")
    templ = templating(client, info, age, kind)
    table([templ])
    heading("4. ORDER BY on a search")
    ordered = order_by(client, info, query, age)
    table([ordered])
    heading("5. count(*) and counts per group")
    counted = aggregation(client, info, age, kind)
    table([counted])
    return {"iterator": iterated, "offsets": paged, "templating": templ, "order_by": ordered, "aggregation": counted}


def finish(info, results: dict) -> dict:
    names = ("templating", "order_by", "aggregation")
    skipped = [f"{name}: {results[name]['skipped']}" for name in names if "skipped" in results[name]]
    refused = [f"{name}: {results[name]['refused']}" for name in names if "refused" in results[name]]
    it = results["iterator"]
    return {
        "headline": f"search_iterator: {it['iterated hits']} hits, "
        f"share of the NumPy top {it['same set as NumPy top']:.3f}",
        "engine": info.kind,
        **results,
        "skipped": skipped,
        "refused": refused,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
