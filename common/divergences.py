"""Where Milvus Lite behaves differently from a Milvus server: the divergence register.

Milvus Lite 3.x is a pure-Python re-implementation of the Milvus API, not the server's code, and
some of its answers differ from what any Milvus server does. The course teaches the server's
behaviour; this register records, per engine, what each one really does, so a lesson can name the
divergence it depends on (``EngineInfo.behaviour``) instead of checking the engine's kind.

tests/test_divergence.py measures every entry on the engine it runs against and fails, saying what to
update, when an engine stops behaving as recorded here (e.g. a Lite release that fixes one).
docs/troubleshooting.md has one row per entry, checked by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

Version = tuple[int, int, int]


@dataclass(frozen=True)
class Divergence:
    question: str  # what tests/test_divergence.py measures
    lite: object  # Milvus Lite 3.2.2, measured
    server: object  # Milvus servers: 2.3.5 measured here
    server_since: tuple[tuple[Version, object], ...] = ()  # newer servers, from their release notes
    course: str = ""  # what the course does about it

    def expected(self, kind: str, version: Version) -> object:
        if kind == "lite":
            return self.lite
        value = self.server
        for since, later in self.server_since:
            if version >= since:
                value = later
        return value


DIVERGENCES: dict[str, Divergence] = {
    "build_params_as_keys": Divergence(
        "index build params sent as separate keys (pymilvus 3's add_index) are applied",
        lite=False,
        server=True,
        course="common.indexes.engine_build_params sends them as one JSON `params` entry where they are not",
    ),
    "build_params_as_json": Divergence(
        "index build params sent as one JSON `params` entry are applied",
        lite=True,
        server=True,
        course="the form engine_build_params uses on Milvus Lite",
    ),
    "metric_mismatch_refused": Divergence(
        "a search whose metric_type differs from the index's is refused",
        lite=False,
        server=True,
        course="lessons search with the index's own metric",
    ),
    "insert_duplicate_key_rows": Divergence(
        "rows stored after inserting the same primary key twice",
        lite=1,
        server=2,
        course="primary keys are unique only by upsert; lessons insert each key once",
    ),
    "upsert_keeps_omitted_fields": Divergence(
        "upsert(partial_update=False) keeps the dynamic fields the new row leaves out (merge, not replace)",
        lite=True,
        server=False,
        course="lessons upsert whole rows",
    ),
    "partial_update_merges": Divergence(
        "upsert(partial_update=True) keeps the dynamic fields the new row leaves out",
        lite=True,  # Lite merges whatever partial_update says
        server=False,  # 2.3.5 has no partial update: every upsert replaces the row
        server_since=(((2, 6, 0), True),),
        course="lessons upsert whole rows",
    ),
    "varchar_length_unit": Divergence(
        "the unit a VARCHAR max_length counts",
        lite="characters",
        server="bytes",
        course="size max_length in UTF-8 bytes (a Hangul character is 3)",
    ),
    "num_shards_described": Divergence(
        "num_shards that describe_collection reports after create_collection(num_shards=2)",
        lite=1,
        server=2,
        course="4.3 says when the engine ignores num_shards",
    ),
    "single_query_p50_ms_max": Divergence(
        "upper bound on one search's p50 (ms) on a 5,000 × 64 FLAT collection",
        lite=60.0,  # Lite walks rows in Python (~28 ms at 50k × 384)
        server=15.0,  # ~2 ms on the embedded server
        course="4.3 and 3.4 say which engine a latency ratio is meaningful on",
    ),
    "second_process_can_write": Divergence(
        "a second process can open the same database and write to the collection",
        lite=False,
        server=True,
        course="Lite: one process per database file; tests use a file each",
    ),
}


def expected(name: str, kind: str, version: Version) -> object:
    """What the register says engine ``kind`` at ``version`` does for divergence ``name``."""
    return DIVERGENCES[name].expected(kind, version)
