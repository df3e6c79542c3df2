"""Exercises 2.3 (a TEXT_MATCH filter) and 2.4 (a decay ranker): graded by what the engine does with the answer.

Both features came with Milvus 2.5 (text match) and 2.6 (decay ranker); an engine without them cannot grade the
answer, which is then skipped by name (never passed). Each check draws its rows from the run's seed.
"""

from __future__ import annotations

import re

from course.grading.common import Context, Failed, Problem, Result, fill, fresh, kind, require, selected_ids

import numpy as np
from pymilvus import DataType, Function, FunctionType

WORDS = ["vector", "index", "shard", "segment", "query", "disk", "memory", "replica", "graph", "token"]
# rows that separate a word match from a substring match and from a case-sensitive one
BOUNDARY_TEXTS = [
    "Replica on DISK",  # upper case: a TEXT_MATCH hit (the analyzer lower-cases)
    "replicas share memory",  # another word: not a hit, though LIKE '%replica%' would take it
    "replica-memory graph",  # split at the hyphen: a hit
    "memory replica",  # order does not matter: a hit
    "disk memory shard",  # no replica: not a hit
]
DECAY_RULE = {"function": "gauss", "origin": 0, "offset": 7, "scale": 23, "decay": 0.5}  # the task, in numbers
DECAY_KEYS = set(DECAY_RULE)
K, QUERIES, WINDOW = 10, 20, 100


def words(text: str) -> set[str]:
    """The standard analyzer's terms: lower-cased runs of letters and digits."""
    return set(re.findall(r"\w+", text.lower()))


def check_text_match(ctx: Context) -> Result:
    require(ctx.engine.info, "text_match", "2.5")
    rng, n = ctx.rng, 1500
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(2, 6))) for _ in range(n)]
    for j, text in enumerate(BOUNDARY_TEXTS):
        texts[int(rng.integers(j * 300, (j + 1) * 300))] = text
    expression = ctx.answer().call(timeout=ctx.timeout)
    if not isinstance(expression, str):
        raise Failed(
            f"returned {kind(expression)}, expected a filter string", f"{kind(expression)}: 문자열이 필요합니다"
        )
    name = "ex_2_3"
    extra = (("text", DataType.VARCHAR, {"max_length": 256, "enable_analyzer": True, "enable_match": True}),)
    fresh(ctx.client, name, 4, extra=extra)
    fill(ctx.client, name, rng.standard_normal((n, 4)).astype(np.float32), text=texts)
    ctx.client.load_collection(name)
    expected = {i for i, t in enumerate(texts) if "replica" in words(t) and {"disk", "memory"} & words(t)}
    got = selected_ids(ctx, name, expression, n)
    missed, wrong = sorted(expected - got), sorted(got - expected)
    problems = []
    if missed:
        problems.append(
            Problem(
                f"missed {len(missed)} matching notes, e.g. id {missed[0]}: {texts[missed[0]]!r}",
                f"조건에 맞는 노트 {len(missed)}개를 놓쳤습니다 (예: {texts[missed[0]]!r})",
            )
        )
    if wrong:
        problems.append(
            Problem(
                f"selected {len(wrong)} notes outside the condition, e.g. id {wrong[0]}: {texts[wrong[0]]!r}",
                f"조건 밖의 노트 {len(wrong)}개를 골랐습니다 (예: {texts[wrong[0]]!r})",
            )
        )
    return Result(
        f"selected {len(got)}: missed {len(missed)}, wrong {len(wrong)}",
        f"exactly the {len(expected)} matching notes",
        problems,
    )


def decay_factor(age: np.ndarray, rule: dict) -> np.ndarray:
    """The decay factor as the Milvus docs define each curve (gauss, exp, linear)."""
    d = np.maximum(0.0, np.abs(age - rule["origin"]) - rule["offset"])
    if rule.get("function") == "exp":
        return rule["decay"] ** (d / rule["scale"])
    if rule.get("function") == "linear":
        return np.maximum(0.0, 1 - (1 - rule["decay"]) * d / rule["scale"])
    return rule["decay"] ** ((d / rule["scale"]) ** 2)


def check_decay(ctx: Context) -> Result:
    require(ctx.engine.info, "decay_ranker", "2.6")
    params = ctx.answer().call(timeout=ctx.timeout)
    if not isinstance(params, dict) or set(params) != DECAY_KEYS:
        raise Failed(
            f"returned {kind(params)}, expected a dict with the keys {sorted(DECAY_KEYS)}",
            f"{kind(params)}: {sorted(DECAY_KEYS)} 키를 가진 dict가 필요합니다",
        )
    rng, n, dim = ctx.rng, 3000, 16
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    age = rng.integers(0, 120, size=n)
    name = "ex_2_4"
    fresh(ctx.client, name, dim, extra=(("age_days", DataType.INT64, {}),))
    fill(ctx.client, name, vectors, age_days=[int(a) for a in age])
    ctx.client.load_collection(name)
    ranker = Function(
        name="freshness",
        input_field_names=["age_days"],
        function_type=FunctionType.RERANK,
        params={"reranker": "decay", **params},
    )
    queries = rng.standard_normal((QUERIES, dim)).astype(np.float32)
    try:
        hits = ctx.client.search(
            collection_name=name,
            data=queries.tolist(),
            anns_field="embedding",
            limit=K,
            ranker=ranker,
            search_params={"metric_type": "COSINE"},
        )
    except Exception as exc:
        raise Failed(
            f"the engine refused the ranker {params}: {getattr(exc, 'message', None) or exc}",
            f"엔진이 리랭커를 거부했습니다: {params}",
        ) from None
    factor = decay_factor(age.astype(np.float64), DECAY_RULE)
    agree = 0
    for q, found in zip(queries / np.linalg.norm(queries, axis=1, keepdims=True), hits):
        sims = vectors @ q
        window = np.argsort(-sims, kind="stable")[:WINDOW]  # the candidates a ranker reorders (10 x limit)
        target = window[np.argsort(-(sims[window] * factor[window]), kind="stable")][:K].tolist()
        agree += [h["id"] for h in found] == target
    problems = []
    if agree < QUERIES:
        at = (
            {a: round(float(decay_factor(np.array([float(a)]), params)[0]), 3) for a in (0, 7, 30)}
            if _numeric(params)
            else {}
        )
        problems.append(
            Problem(
                f"the top-10 order follows the rule for {agree} of {QUERIES} queries; your factor at 0/7/30 days: {at}",
                f"상위 10개 순서가 규칙과 같은 질의가 {QUERIES}개 중 {agree}개입니다 (0/7/30일의 계수: {at})",
            )
        )
    return Result(f"{agree}/{QUERIES} queries in the rule's order", f"{QUERIES}/{QUERIES}", problems)


def _numeric(params: dict) -> bool:
    return all(isinstance(params.get(k), (int, float)) for k in ("origin", "offset", "scale", "decay"))
