"""Checks for steps 1 and 2: a schema, batched inserts, top-k search, an index choice, a filter expression.

Each check states, above it, what a correct answer must satisfy; the check measures every clause.
"""

from __future__ import annotations

from common.data import exact_topk, make_dataset
from common.indexes import engine_build_params, unapplied_build_params
from common.metrics import recall_at_k
from course.grading.common import (
    Context,
    Failed,
    Problem,
    Result,
    all_rows,
    count,
    fill,
    fresh,
    is_int,
    kind,
    selected_ids,
)
from course.grading.sandbox import CLIENT, Schema

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient

# 1.1 — correct when: build_schema() returns a CollectionSchema with exactly the fields id, title, embedding;
# id is INT64, the primary key, not auto_id; title is VARCHAR with max_length 200 (a 200-character title fits);
# embedding is FLOAT_VECTOR with dim 32; a collection created from it takes 50 rows.
WANTED_FIELDS = {
    "id": (DataType.INT64, {}),
    "title": (DataType.VARCHAR, {"max_length": 200}),
    "embedding": (DataType.FLOAT_VECTOR, {"dim": 32}),
}


def schema_problems(schema: dict) -> list[Problem]:
    fields = {f.get("name"): f for f in schema.get("fields", [])}
    problems = []
    for name, (dtype, params) in WANTED_FIELDS.items():
        got = fields.get(name)
        if got is None:
            problems.append(Problem(f"field {name!r} is missing", f"필드 {name!r}이(가) 없습니다"))
            continue
        if DataType(got.get("type")) != dtype:
            have = DataType(got.get("type")).name
            problems.append(
                Problem(f"field {name!r} is {have}, expected {dtype.name}", f"필드 {name!r}: {have}, 기대 {dtype.name}")
            )
        for key, value in params.items():
            have = (got.get("params") or {}).get(key)
            if str(have) != str(value):
                problems.append(
                    Problem(
                        f"field {name!r}: {key} {have}, expected {value}", f"필드 {name!r}: {key} {have}, 기대 {value}"
                    )
                )
    for name in sorted(set(fields) - set(WANTED_FIELDS), key=str):
        problems.append(Problem(f"unexpected field {name!r}", f"과제에 없는 필드 {name!r}"))
    key = fields.get("id", {})
    if "id" in fields and not key.get("is_primary"):
        problems.append(Problem("field 'id' is not the primary key", "'id'가 기본 키가 아닙니다"))
    if key.get("auto_id") or schema.get("auto_id"):
        problems.append(Problem("auto_id is on: the task gives the ids", "auto_id가 켜져 있습니다: id는 직접 줍니다"))
    return problems


def check_schema(ctx: Context) -> Result:
    value = ctx.answer().call(timeout=ctx.timeout)
    if not isinstance(value, Schema):
        raise Failed(
            f"returned {kind(value)}, expected a CollectionSchema",
            f"{kind(value)}을(를) 돌려줌: CollectionSchema가 아닙니다",
        )
    problems = schema_problems(value.fields)
    rows = 0
    if not problems:
        described = dict(value.fields)
        described["fields"] = [{**f, "type": DataType(f["type"])} for f in described["fields"]]
        schema = CollectionSchema.construct_from_dict(described)
        name, client = "ex_1_1", ctx.client
        if client.has_collection(name):
            client.drop_collection(name)
        index = MilvusClient.prepare_index_params()
        index.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
        client.create_collection(collection_name=name, schema=schema, index_params=index, consistency_level="Strong")
        vectors = make_dataset(50, 32, 1, seed=ctx.seed).base
        data = [{"id": i, "title": "t" * 200, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        client.insert(collection_name=name, data=data)
        rows = count(client, name)
        if rows != 50:
            problems.append(Problem(f"{rows} of 50 rows stored", f"50행 중 {rows}행만 저장됨"))
    right = 3 - len({p.en.split("'")[1] for p in problems if p.en.startswith("field ")})
    return Result(f"fields right {right}/3, rows {rows}/50", "3/3 fields as stated, 50 rows", problems)


# 1.2 — correct when: for any n (a multiple of 500 and not), row i holds id i, titles[i] and vectors[i]; no row
# is missing or extra; every insert call carries at most 500 rows; flush comes after the last insert; the
# function returns n as an int.
def check_insert(ctx: Context) -> Result:
    rng = ctx.rng
    answer, problems, figures = ctx.answer(), [], []
    for n in (500 * int(rng.integers(2, 4)), int(rng.integers(501, 1500)) | 1):
        name = f"ex_1_2_{n}"
        fresh(ctx.client, name, 32, extra=(("title", DataType.VARCHAR, {"max_length": 64}),))
        vectors = make_dataset(n, 32, 1, seed=ctx.seed + n).base
        titles = [f"title {int(t)}" for t in rng.permutation(10 * n)[:n]]
        start = len(answer.calls)
        returned = answer.call(CLIENT, name, vectors.tolist(), titles, timeout=ctx.timeout)
        calls = [c for c in answer.calls[start:] if c.get("collection") == name]
        problems += insert_problems(ctx.client, name, n, vectors, titles, returned, calls)
        writes = [c.get("rows", 0) for c in calls if c["method"] in ("insert", "upsert")]
        figures.append(f"n={n}: rows {count(ctx.client, name)}, largest call {max(writes, default=0)}")
    return Result("; ".join(figures), "row i = (i, titles[i], vectors[i]); calls ≤ 500 rows; flush last", problems)


def insert_problems(client, name, n, vectors, titles, returned, calls) -> list[Problem]:
    problems = []
    if not is_int(returned) or returned != n:
        problems.append(
            Problem(
                f"n={n}: returned {kind(returned)}, expected {n}", f"n={n}: {kind(returned)}을(를) 돌려줌, 기대 {n}"
            )
        )
    writes = [i for i, c in enumerate(calls) if c["method"] in ("insert", "upsert")]
    big = [calls[i]["rows"] for i in writes if calls[i].get("rows", 0) > 500]
    if big:
        problems.append(
            Problem(
                f"n={n}: an insert call carried {max(big)} rows (at most 500)",
                f"n={n}: insert 한 번에 {max(big)}행(최대 500)",
            )
        )
    flushes = [i for i, c in enumerate(calls) if c["method"] == "flush"]
    if writes and (not flushes or flushes[-1] < writes[-1]):
        problems.append(
            Problem(f"n={n}: no flush after the last insert", f"n={n}: 마지막 insert 뒤에 flush가 없습니다")
        )
    stored = {row["id"]: row for row in all_rows(client, name, ["id", "title", "embedding"])}
    missing = sorted(set(range(n)) - set(stored))
    extra = sorted(set(stored) - set(range(n)))
    if missing or extra:
        problems.append(
            Problem(
                f"n={n}: ids should be 0..{n - 1}; missing {len(missing)} (first {missing[:3]}), extra {len(extra)} "
                f"(first {extra[:3]})",
                f"n={n}: id는 0..{n - 1}이어야 합니다; 빠진 id {len(missing)}개, 남는 id {len(extra)}개",
            )
        )
    wrong = [i for i in range(n) if i in stored and stored[i].get("title") != titles[i]]
    if wrong:
        i = wrong[0]
        problems.append(
            Problem(
                f"n={n}: {len(wrong)} rows hold another row's title (id {i}: {stored[i].get('title')!r}, "
                f"expected {titles[i]!r})",
                f"n={n}: {len(wrong)}행의 title이 다른 행의 것입니다 (id {i})",
            )
        )
    off = [i for i in range(n) if i in stored and not np.allclose(stored[i]["embedding"], vectors[i], atol=1e-5)]
    if off:
        problems.append(
            Problem(
                f"n={n}: {len(off)} rows hold another row's vector (first id {off[0]})",
                f"n={n}: {len(off)}행의 벡터가 다른 행의 것입니다",
            )
        )
    return problems


# 1.3 — correct when: for every k asked (1, 10 and one drawn per run) the answer is a list of exactly k distinct
# int ids, nearest first by COSINE (each hit no farther than the one before), recall@k ≥ 0.99 against exact
# NumPy search, and the search uses the index's metric (a server refuses another one).
def ranked_problems(found, k: int, n_rows: int, scores_of, order: str, label: str) -> list[Problem]:
    """Shape, types and order of one returned list; ``scores_of(ids)`` gives exact scores, best (highest) first."""
    if not isinstance(found, list):
        return [
            Problem(
                f"{label}: returned {kind(found)}, expected a list of {k} ids",
                f"{label}: {kind(found)}을(를) 돌려줌, id {k}개의 리스트가 필요합니다",
            )
        ]
    if not all(is_int(i) for i in found):
        bad = next(i for i in found if not is_int(i))
        return [
            Problem(
                f"{label}: ids must be int, got {type(bad).__name__} {bad!r}",
                f"{label}: id는 int여야 합니다 ({type(bad).__name__} {bad!r})",
            )
        ]
    if len(found) != k:
        return [
            Problem(
                f"{label}: returned {len(found)} ids, expected exactly k={k}",
                f"{label}: id {len(found)}개, 정확히 k={k}개여야 합니다",
            )
        ]
    if len(set(found)) != k:
        return [Problem(f"{label}: the same id twice", f"{label}: 같은 id가 두 번 나옵니다")]
    stray = [i for i in found if not 0 <= i < n_rows]
    if stray:
        return [
            Problem(f"{label}: id {stray[0]} is not in the collection", f"{label}: id {stray[0]}는 컬렉션에 없습니다")
        ]
    steps = -np.diff(scores_of(found))
    if np.any(steps < -1e-5):
        at = int(np.argmax(steps < -1e-5)) + 1
        return [
            Problem(
                f"{label}: not {order} (hit {at + 1} ranks above hit {at})",
                f"{label}: 순서가 틀렸습니다 ({at + 1}번째가 {at}번째보다 앞서야 합니다)",
            )
        ]
    return []


def check_search(ctx: Context) -> Result:
    rng = ctx.rng
    name, data = "ex_1_3", make_dataset(3000, 32, 20, seed=ctx.seed)
    fresh(ctx.client, name, 32)
    fill(ctx.client, name, data.base)
    ctx.client.load_collection(name)
    answer, problems, recalls = ctx.answer(), [], {}
    for k in (1, 10, int(rng.integers(3, 26))):
        truth, _ = exact_topk(data.base, data.queries, k)
        found = [answer.call(CLIENT, name, q.tolist(), k, timeout=ctx.timeout) for q in data.queries]
        for q, ids in enumerate(found):
            scores = lambda ids, q=q: data.base[ids] @ data.queries[q] / np.linalg.norm(data.queries[q])  # noqa: E731
            problems += ranked_problems(ids, k, len(data.base), scores, "nearest first", f"k={k}, query {q}")[:1]
            if problems:
                break
        if problems:
            break
        recalls[k] = recall_at_k(found, truth, k)
        if recalls[k] < 0.99:
            problems.append(
                Problem(
                    f"k={k}: recall@{k} {recalls[k]:.3f} (target ≥ 0.99)",
                    f"k={k}: recall@{k} {recalls[k]:.3f} (목표 ≥ 0.99)",
                )
            )
    measured = ", ".join(f"recall@{k} {r:.3f}" for k, r in recalls.items()) or "not measured"
    return Result(measured, "exactly k int ids, nearest first, recall ≥ 0.99 for each k", problems)


# 2.1 — correct when: the index is an IVF or HNSW type (any case the engine accepts; not FLAT); IVF nprobe is an
# int with 1 ≤ nprobe ≤ nlist/4 and ≤ 32; HNSW ef is an int with k=10 ≤ ef ≤ 128 (a server refuses ef below
# the limit); the engine builds the index with exactly the build params asked (Milvus Lite drops params sent as
# separate keys, so they are sent the way it applies them and read back); recall@10 ≥ 0.95 on held-out queries
# of data drawn fresh per run (50 clusters, spread 1.6).
COST_RULE = "no FLAT; IVF nprobe ≤ nlist/4 and ≤ 32; HNSW 10 ≤ ef ≤ 128"


def cost_problems(index_type, build, search) -> list[Problem]:
    kind_ = str(index_type).upper()
    if kind_.startswith("IVF"):
        nlist, nprobe = build.get("nlist"), search.get("nprobe")
        if not is_int(nlist) or not is_int(nprobe):
            return [
                Problem(
                    f"{index_type}: nlist and nprobe must be ints (got {nlist!r}, {nprobe!r})",
                    f"{index_type}: nlist와 nprobe는 int여야 합니다",
                )
            ]
        if not (1 <= nprobe <= min(32, nlist / 4)):
            return [
                Problem(
                    f"{index_type} nlist {nlist}, nprobe {nprobe}: over the cost rule "
                    f"(nprobe ≤ nlist/4 = {nlist / 4:g} and ≤ 32)",
                    f"비용 조건 위반: nprobe ≤ nlist/4 ({nlist / 4:g}), ≤ 32",
                )
            ]
        return []
    if kind_.startswith("HNSW"):
        ef = search.get("ef")
        if not is_int(ef) or not 10 <= ef <= 128:
            return [
                Problem(
                    f"{index_type} ef {ef!r}: over the cost rule or below the limit (10 ≤ ef ≤ 128)",
                    f"{index_type} ef {ef!r}: 10 ≤ ef ≤ 128 이어야 합니다",
                )
            ]
        return []
    return [
        Problem(
            f"{index_type!r} is not an IVF or HNSW index (the cost rule)",
            f"{index_type!r}: IVF 계열이나 HNSW가 아닙니다(비용 조건)",
        )
    ]


def check_index_choice(ctx: Context) -> Result:
    value = ctx.answer().call(timeout=ctx.timeout)
    if not (isinstance(value, (tuple, list)) and len(value) == 3 and isinstance(value[0], str)):
        raise Failed(
            f"returned {kind(value)}, expected (index_type, build params, search params)",
            f"{kind(value)}을(를) 돌려줌: (index_type, 빌드 파라미터, 검색 파라미터)가 필요합니다",
        )
    index_type, build, search = value
    if not isinstance(build, dict) or not isinstance(search, dict):
        raise Failed("build and search params must be dicts", "빌드/검색 파라미터는 dict여야 합니다")
    problems = cost_problems(index_type, build, search)
    if problems:
        return Result(f"{index_type} {build} {search}", COST_RULE, problems)
    client, name = ctx.client, "ex_2_1"
    data = make_dataset(10_000, 64, 100, n_clusters=50, spread=1.6, seed=ctx.seed)
    fresh(client, name, 64, index=False)
    fill(client, name, data.base)
    index = MilvusClient.prepare_index_params()
    params = engine_build_params(ctx.engine.info, build)
    index.add_index(field_name="embedding", index_type=index_type, metric_type="COSINE", params=params)
    try:
        client.create_index(collection_name=name, index_params=index)
    except Exception as exc:  # the engine refused the index the answer asked for: say why, in its words
        reason = getattr(exc, "message", None) or str(exc)
        raise Failed(
            f"the engine refused to build {index_type!r} with {build}: {reason}",
            f"엔진이 인덱스 {index_type!r} 빌드를 거부했습니다: {reason}",
        ) from None
    unapplied = unapplied_build_params(client.describe_index(collection_name=name, index_name="embedding"), build)
    if unapplied:
        raise Failed(
            f"the engine did not apply build params {unapplied} (asked, reported): "
            "recall would be measured on another index",
            f"엔진이 빌드 파라미터 {sorted(unapplied)}를 적용하지 않았습니다",
        )
    client.load_collection(name)
    truth, _ = exact_topk(data.base, data.queries, 10)
    hits = client.search(
        collection_name=name,
        data=data.queries.tolist(),
        anns_field="embedding",
        limit=10,
        search_params={"metric_type": "COSINE", "params": search},
    )
    recall = recall_at_k([[h["id"] for h in q] for q in hits], truth, 10)
    if recall < 0.95:
        problems.append(
            Problem(
                f"held-out recall@10 {recall:.3f} < 0.95 with {build} / {search}",
                f"튜닝에 안 쓴 질의의 recall@10 {recall:.3f} < 0.95",
            )
        )
    return Result(f"{index_type} {build} {search}: recall@10 {recall:.3f}", "≥ 0.95 within the cost rule", problems)


# 2.2 — correct when: the expression selects exactly the rows with category == "books", price < 20 and
# stock > 0 — including the boundaries (price exactly 20.00 and 19.99, stock 0 and -1, "Books" and "ebooks");
# any equivalent expression passes.
BOUNDARY_ROWS = [  # (category, price, stock): each separates one plausible mistake from the task's condition
    ("books", 20.0, 3),  # price <= 20
    ("books", 19.99, 1),  # price < 19.99 / rounding
    ("books", 10.0, 0),  # stock >= 0
    ("books", 12.5, -1),  # stock != 0
    ("Books", 5.0, 2),  # a case-insensitive match
    ("ebooks", 5.0, 2),  # like "%books%"
    ("books", 0.5, 1),  # price > 1 assumed
]


def describe_row(i, category, price, stock) -> str:
    return f"id {i} (category {category[i]!r}, price {price[i]:.2f}, stock {stock[i]})"


def check_filter(ctx: Context) -> Result:
    rng, n = ctx.rng, 2000
    category = rng.choice(["books", "music", "toys"], size=n).astype(object)
    price, stock = np.round(rng.uniform(1, 60, size=n), 2), rng.integers(0, 4, size=n)
    for j, (c, p, s) in enumerate(BOUNDARY_ROWS):
        at = int(rng.integers(j * 250, (j + 1) * 250))
        category[at], price[at], stock[at] = c, p, s
    expression = ctx.answer().call(timeout=ctx.timeout)
    if not isinstance(expression, str):
        raise Failed(
            f"returned {kind(expression)}, expected a filter string",
            f"{kind(expression)}을(를) 돌려줌: 필터 문자열이 필요합니다",
        )
    extra = (
        ("category", DataType.VARCHAR, {"max_length": 16}),
        ("price", DataType.DOUBLE, {}),
        ("stock", DataType.INT64, {}),
    )
    name = "ex_2_2"
    fresh(ctx.client, name, 8, extra=extra)
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    fill(ctx.client, name, vectors, category=list(category), price=price.tolist(), stock=stock.tolist())
    ctx.client.load_collection(name)
    expected = set(np.flatnonzero((category == "books") & (price < 20) & (stock > 0)).tolist())
    got = selected_ids(ctx, name, expression, n)
    missed, wrong = sorted(expected - got), sorted(got - expected)
    problems = []
    if missed:
        problems.append(
            Problem(
                f"missed {len(missed)} matching rows, e.g. {describe_row(missed[0], category, price, stock)}",
                f"조건에 맞는 {len(missed)}행을 놓쳤습니다",
            )
        )
    if wrong:
        problems.append(
            Problem(
                f"selected {len(wrong)} rows outside the condition, "
                f"e.g. {describe_row(wrong[0], category, price, stock)}",
                f"조건 밖의 {len(wrong)}행을 골랐습니다",
            )
        )
    return Result(
        f"selected {len(got)}: missed {len(missed)}, wrong {len(wrong)}",
        f"exactly the {len(expected)} matching rows",
        problems,
    )
