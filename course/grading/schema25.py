"""Exercise 1.5 (nullable fields and default values, Milvus 2.5): graded by what the engine stores and returns.

An engine without nullable fields cannot grade the answer, which is then skipped by name (never passed). The
grader creates a collection from the returned schema, inserts products that give every field, leave price out,
send price as None, leave stock out, or leave out both, each kind in its own insert, and reads every row back.
"""

from __future__ import annotations

from course.grading.common import Context, Failed, Problem, Result, all_rows, kind, require, selected_ids
from course.grading.sandbox import Schema

import numpy as np
from pymilvus import DataType, MilvusClient

NAME, DIM, NAME_CHARS = "ex_1_5", 8, 40  # the task: names of up to 40 characters, 8-dimensional embeddings

# 1.5 — correct when: the schema has id (INT64, the primary key, not auto_id), name (VARCHAR), price (FLOAT),
# stock (INT64) and embedding (FLOAT_VECTOR, dim 8), in any order, with any other fields a row may leave out;
# a collection created from it stores every row below; price reads back None where a row left it out or sent
# None, and `price IS NULL` selects exactly those rows (`price IS NOT NULL` the others); stock reads back 0 where
# a row left it out; every value a row gave (name of up to 40 characters, price, stock) reads back unchanged.
WANTED = {
    "id": DataType.INT64,
    "name": DataType.VARCHAR,
    "price": DataType.FLOAT,
    "stock": DataType.INT64,
    "embedding": DataType.FLOAT_VECTOR,
}
KINDS = {  # kind of row → (what it does, in English and Korean)
    "full": ("giving every field", "모든 필드를 준"),
    "no price": ("leaving price out", "price를 뺀"),
    "price None": ("sending price as None", "price에 None을 보낸"),
    "no stock": ("leaving stock out", "stock을 뺀"),
    "neither": ("leaving out both price and stock", "price와 stock을 둘 다 뺀"),
}


def field_problems(schema: dict) -> list[Problem]:
    fields = {f.get("name"): f for f in schema.get("fields", [])}
    problems = []
    for name, dtype in WANTED.items():
        got = fields.get(name)
        if got is None:
            problems.append(Problem(f"field {name!r} is missing", f"필드 {name!r}이(가) 없습니다"))
        elif DataType(got.get("type")) != dtype:
            have = DataType(got.get("type")).name
            problems.append(
                Problem(f"field {name!r} is {have}, expected {dtype.name}", f"필드 {name!r}: {have}, 기대 {dtype.name}")
            )
    dim = (fields.get("embedding", {}).get("params") or {}).get("dim")
    if "embedding" in fields and str(dim) != str(DIM):
        problems.append(Problem(f"field 'embedding': dim {dim}, expected {DIM}", f"'embedding' 차원 {dim}, 기대 {DIM}"))
    if "id" in fields and not fields["id"].get("is_primary"):
        problems.append(Problem("field 'id' is not the primary key", "'id'가 기본 키가 아닙니다"))
    if fields.get("id", {}).get("auto_id") or schema.get("auto_id"):
        problems.append(Problem("auto_id is on: the task gives the ids", "auto_id가 켜져 있습니다: id는 직접 줍니다"))
    return problems


def products(rng) -> list[tuple[str, dict]]:
    """(kind, row) for 5 to 8 products of each kind; ids, names, prices and stocks drawn from the run's seed."""
    per_kind = int(rng.integers(5, 9))
    ids = rng.permutation(100_000)[: per_kind * len(KINDS)]
    made = []
    for j, kind_ in enumerate(k for k in KINDS for _ in range(per_kind)):
        chars = NAME_CHARS if j == 0 else int(rng.integers(1, NAME_CHARS + 1))  # one name at the full length
        letters = rng.choice(list("abcdefghijklmnopqrstuvwxyz "), chars)  # ASCII: characters = bytes
        row = {"id": int(ids[j]), "name": "".join(letters)}
        row["embedding"] = rng.standard_normal(DIM).astype(np.float32).tolist()
        if kind_ in ("full", "no stock"):
            row["price"] = float(np.float32(round(float(rng.uniform(0.5, 900)), 2)))
        elif kind_ == "price None":
            row["price"] = None
        if kind_ in ("full", "no price", "price None"):
            row["stock"] = int(rng.integers(1, 10_000))  # never 0: a default read back is not a given value
        made.append((kind_, row))
    return made


def create(ctx: Context, schema: Schema) -> None:
    try:
        built = schema.collection_schema()
    except Exception as exc:  # pymilvus cannot rebuild it: say why
        raise Failed(f"the schema cannot be rebuilt: {exc}", f"스키마를 다시 만들 수 없습니다: {exc}") from None
    if ctx.client.has_collection(NAME):
        ctx.client.drop_collection(NAME)
    index = MilvusClient.prepare_index_params()
    index.add_index(field_name="embedding", index_type="FLAT", metric_type="L2")
    try:
        ctx.client.create_collection(collection_name=NAME, schema=built, index_params=index, consistency_level="Strong")
    except Exception as exc:  # the engine refused the schema
        reason = getattr(exc, "message", None) or exc
        raise Failed(f"the engine refused the schema: {reason}", f"엔진이 스키마를 거부했습니다: {reason}") from None


def insert_kinds(ctx: Context, rows: list[tuple[str, dict]]) -> tuple[list[tuple[str, dict]], list[Problem]]:
    """One insert per kind of row; the rows the engine took, and a problem for each kind it refused."""
    stored, problems = [], []
    for kind_, (en, ko) in KINDS.items():
        batch = [row for k, row in rows if k == kind_]
        try:
            ctx.client.insert(collection_name=NAME, data=batch)
        except Exception as exc:  # refused: the schema does not take this kind of row
            reason = str(getattr(exc, "message", None) or exc)[:160]
            problems.append(
                Problem(f"the engine refused the rows {en}: {reason}", f"{ko} 행을 엔진이 거부했습니다: {reason}")
            )
            continue
        stored += [(kind_, row) for row in batch]
    ctx.client.flush(collection_name=NAME)
    return stored, problems


def same(field: str, want, have) -> bool:
    if want is None or have is None or field != "price":
        return want == have and type(want) is type(have)
    try:
        return bool(np.float32(have) == np.float32(want))  # FLOAT holds float32: compare at that precision
    except (TypeError, ValueError):
        return False


def read_back_problems(stored: list[tuple[str, dict]], got: dict[int, dict]) -> tuple[list[Problem], dict]:
    """Each stored row's name, price and stock against what the task says it must read back (0 for a stock left
    out, None for a price left out or sent as None); one problem per field and kind, with its first wrong row."""
    problems, right = [], {}
    for field in ("name", "price", "stock"):
        wrong = {}
        for kind_, row in stored:
            want, have = row.get(field, 0 if field == "stock" else None), got.get(row["id"], {}).get(field)
            if same(field, want, have):
                right[field] = right.get(field, 0) + 1
            else:
                wrong.setdefault(kind_, (row["id"], want, have))
        for kind_, (id_, want, have) in wrong.items():
            en, ko = KINDS[kind_]
            shown = "None (null)" if want is None else repr(want)
            problems.append(
                Problem(
                    f"rows {en} read {field} back as {have!r}, expected {shown} (e.g. id {id_})",
                    f"{ko} 행의 {field} 값이 {have!r}(으)로 조회됩니다. 기대 {shown} (예: id {id_})",
                )
            )
    return problems, right


def filter_problems(ctx: Context, stored: list[tuple[str, dict]]) -> tuple[list[Problem], str]:
    """`price IS NULL` must select exactly the stored rows without a price, `price IS NOT NULL` the others."""
    without = {row["id"] for _, row in stored if row.get("price") is None}
    problems, shown = [], []
    for expression, expected in (
        ("price IS NULL", without),
        ("price IS NOT NULL", {row["id"] for _, row in stored} - without),
    ):
        got = selected_ids(ctx, NAME, expression, 16384)
        missed, extra = len(expected - got), len(got - expected)
        shown.append(f"{expression.removeprefix('price ')} {len(got & expected)}/{len(expected)}")
        shown[-1] += f" +{extra} wrong" if extra else ""
        if missed or extra:
            problems.append(
                Problem(
                    f"{expression} selected {len(got)} rows: missed {missed} of the {len(expected)} it must select, "
                    f"took {extra} others",
                    f"{expression}가 {len(got)}행을 골랐습니다: 골라야 할 {len(expected)}행 중 {missed}행을 놓치고 "
                    f"{extra}행을 더 골랐습니다",
                )
            )
    return problems, "; ".join(shown)


def check_nullable(ctx: Context) -> Result:
    info = ctx.engine.info
    require(info, "nullable_fields", "2.5")
    value = ctx.answer().call(timeout=ctx.timeout)
    if not isinstance(value, Schema):
        raise Failed(
            f"returned {kind(value)}, expected a CollectionSchema",
            f"{kind(value)}을(를) 돌려줌: CollectionSchema가 아닙니다",
        )
    target = "all rows; price None where missing, IS NULL exact; stock 0 where left out"
    problems = field_problems(value.fields)
    if problems:
        return Result(f"fields: {len(problems)} wrong", target, problems)
    create(ctx, value)
    rows = products(ctx.rng)
    stored, problems = insert_kinds(ctx, rows)
    ctx.client.load_collection(NAME)
    got = {r["id"]: r for r in all_rows(ctx.client, NAME, ["id", "name", "price", "stock"])}
    if len(got) != len(stored):
        problems.append(
            Problem(
                f"{len(got)} rows read back, {len(stored)} inserted",
                f"넣은 행은 {len(stored)}개인데 조회된 행은 {len(got)}개입니다",
            )
        )
    wrong, right = read_back_problems(stored, got)
    filtered, shown = filter_problems(ctx, stored) if stored else ([], "")
    nulls = sum(1 for _, r in stored if r.get("price") is None)
    measured = (
        f"rows {len(stored)}/{len(rows)}; price {right.get('price', 0)}/{len(stored)} ({nulls} null); "
        f"stock {right.get('stock', 0)}/{len(stored)}; {shown}"
    )
    return Result(measured, target, problems + wrong + filtered)
