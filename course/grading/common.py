"""What the checks share: the grading context, results and problems (in English and Korean), collections."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common.engine import EngineInfo, describe
from course.grading.sandbox import Answer, Engine, Opaque, Schema

import numpy as np
from pymilvus import DataType, MilvusClient


class NotGradable(Exception):
    """The engine or machine lacks what the exercise needs: an explicit, named skip."""


def require(info: EngineInfo, capability: str, since: str) -> None:
    """Raise NotGradable, by name, unless the engine really runs ``capability`` (new in Milvus ``since``).

    MILVUS_ASSUME_VERSION describes an older server as a newer one, so that lessons take the newer
    branches and name each refusal. A grader cannot judge an answer on a server that does not run the
    feature (it would fail a correct answer, and a 2.3.5 server exits when asked for a TIMESTAMPTZ
    field), so what the real server lacks is not graded, and nothing for it is sent.
    """
    if not info.has(capability):
        raise NotGradable(f"needs {capability} (Milvus {since}+; have {info.label})")
    if info.assumed and not describe(info.kind, info.actual_version).has(capability):
        raise NotGradable(f"needs {capability} (Milvus {since}+; the engine is {info.actual_label}, assumed newer)")


@dataclass(frozen=True)
class Problem:
    en: str
    ko: str


@dataclass
class Result:
    measured: str  # the figures, short, for the table
    target: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the grader judged something an engine cannot show

    @property
    def passed(self) -> bool:
        return not self.problems


class Failed(Exception):
    """Stop the check here: this problem makes the rest unmeasurable."""

    def __init__(self, en: str, ko: str, measured: str = ""):
        super().__init__(en)
        self.problem, self.measured = Problem(en, ko), measured


@dataclass
class Context:
    engine: Engine
    file: Path
    function: str
    seed: int
    timeout: float
    milvus: bool = True  # whether the answer's process gets a client
    answers: list[Answer] = field(default_factory=list)

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    @property
    def client(self) -> MilvusClient:
        return self.engine.client

    def answer(self, hash_seed: str = "") -> Answer:
        """The learner's file, loaded in a process of its own (the first load counts against the time limit)."""
        settings = {}
        if self.milvus:
            info = self.engine.info
            settings = {
                "enforce_metric": not info.behaviour("metric_mismatch_refused"),
                "count_insert_duplicates": info.behaviour("insert_duplicate_key_rows") == 1,
            }
        answer = Answer(self.engine, self.file, self.function, settings, hash_seed=hash_seed, connect=self.milvus)
        self.answers.append(answer)
        answer.load(timeout=self.timeout)
        return answer


def kind(value) -> str:
    """What a returned value is, in a learner's words: 'a set of 10', 'None', 'a list of 3 str'."""
    if value is None:
        return "None"
    if isinstance(value, Opaque):
        return f"a {value.type} ({value.text})"
    if isinstance(value, Schema):
        return "a CollectionSchema"
    if isinstance(value, (list, tuple, set)):
        types = sorted({type(v).__name__ for v in value})
        inner = f" {'/'.join(types)}" if types else ""
        return f"a {type(value).__name__} of {len(value)}{inner}"
    return f"a {type(value).__name__} ({str(value)[:40]})"


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shorten(text: str, limit: int = 220) -> str:
    """At most ``limit`` characters, cut at a word boundary, never mid-word."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + " …"


def fresh(
    client: MilvusClient, name: str, dim: int, metric: str = "COSINE", extra: tuple = (), index: bool = True
) -> None:
    """A collection with id, embedding (+ extra scalar fields) and, unless index=False, a FLAT index (exact)."""
    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    for name_, dtype, kwargs in extra:
        schema.add_field(field_name=name_, datatype=dtype, **kwargs)
    params = MilvusClient.prepare_index_params()
    params.add_index(field_name="embedding", index_type="FLAT", metric_type=metric)
    client.create_collection(
        collection_name=name, schema=schema, index_params=params if index else None, consistency_level="Strong"
    )


def fill(client: MilvusClient, name: str, vectors: np.ndarray, ids=None, **columns) -> None:
    ids = list(range(len(vectors))) if ids is None else list(ids)
    rows = [
        {"id": int(ids[i]), "embedding": v.tolist(), **{k: c[i] for k, c in columns.items()}}
        for i, v in enumerate(vectors)
    ]
    for start in range(0, len(rows), 2000):
        client.insert(collection_name=name, data=rows[start : start + 2000])
    client.flush(collection_name=name)


def selected_ids(ctx: Context, name: str, expression: str, limit: int) -> set[int]:
    """The ids the engine selects with a learner's filter; an expression it refuses fails with its reason."""
    try:
        rows = ctx.client.query(collection_name=name, filter=expression, output_fields=["id"], limit=limit)
    except Exception as exc:  # the engine refused the expression: say why
        raise Failed(
            f"the engine refused the expression {expression!r}: {getattr(exc, 'message', None) or exc}",
            f"엔진이 식을 거부했습니다: {expression!r}",
        ) from None
    return {row["id"] for row in rows}


def count(client: MilvusClient, name: str) -> int:
    return client.query(collection_name=name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0][
        "count(*)"
    ]


def all_rows(client: MilvusClient, name: str, fields: list[str]) -> list[dict]:
    return client.query(
        collection_name=name, filter="id >= 0 or id < 0", output_fields=fields, limit=16384, consistency_level="Strong"
    )


def server_rows(client: MilvusClient, name: str, calls: list[dict]) -> tuple[int, int]:
    """(rows a server would hold, rows of them that exist only because Milvus Lite overwrote on insert)."""
    extra = sum(c.get("duplicate_rows", 0) for c in calls if c.get("collection") == name)
    return count(client, name) + extra, extra
