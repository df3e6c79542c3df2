"""Which engine is behind the URI, its version, and what it can do.

Engines differ a lot: Milvus Lite has no IVF_PQ and no users; the embedded
2.3 server has no BM25, no sparse vectors and no multi-vector hybrid search,
and it *accepts* ``group_by_field`` and then ignores it. The capability set
below records what was verified on each engine by running it (Lite 3.2.2 and
the embedded server 2.3.5; newer servers from their release notes), so lessons branch on facts, never on a probe
that may hang (a CPU server accepts a GPU index and never builds it).

``MILVUS_ASSUME_VERSION=3.0.2`` makes ``detect`` describe the connected server as
that version, so lessons take the branches a newer server would take. It exists
to exercise those branches against the servers we can run: a section the real
server refuses (or accepts and then ignores) ends as a named refusal,
``EngineInfo.refusal``, instead of a failure. Without it, the same error is a bug
and propagates.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field

from common import divergences, indexes
from common.config import is_lite_uri
from common.errors import BadInput

import grpc
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

REFUSED = (MilvusException, grpc.RpcError)  # a server's refusal: an error status, or an RPC it does not have

# Capabilities every engine here has (verified on Lite 3.2.2 and server 2.3.5).
COMMON = frozenset(
    {
        "json_field",
        "array_field",
        "dynamic_field",
        "partitions",
        "partition_key",
        "alias",
        "rename",
        "range_search",
        "iterator",
        "databases",
    }
)

LITE = COMMON | {"sparse_vector", "hybrid_search", "bm25", "group_by"}
# Schema and data features run on Lite 3.2.2 (lessons 1.5, 1.6, 4.8): nullable/default fields with IS NULL,
# TIMESTAMPTZ range filters, GEOMETRY ST_WITHIN (a scan, no RTREE), merge upserts, use_database.
LITE |= {"nullable_fields", "timestamptz", "geometry", "partial_update", "use_database"}
# search features verified by effect on Lite 3.2.2 (step02 lessons 05-08): text_match filters, decay/boost rankers,
# function chains. Not there: phrase_match, filter templating, run_analyzer, ORDER BY (accepted, ignored).
LITE |= {"text_match", "decay_ranker", "boost_ranker", "function_chain"}
LITE_VECTOR_INDEXES = indexes.lite_vector_indexes()  # the index table in common/indexes.py
LITE_SCALAR_INDEXES = ("INVERTED",)

SERVER = COMMON | {
    "float16_vector",
    "binary_vector",
    "rbac",
    "resource_groups",
    "replicas",
    "metrics_endpoint",
    "partition_load",
    "compaction",  # 2.3.5: compact() returns a job id and the job runs (Lite's compact() returns 0 and does nothing)
    "bulk_insert",  # 2.3.5: utility.do_bulk_insert of JSON, Parquet and NumPy files completes (Lite has no import)
}


def server_capabilities(version: tuple[int, int, int]) -> frozenset[str]:
    caps = set(SERVER)
    if version >= (2, 4, 0):  # multi-vector collections and the features built on them
        caps |= {"sparse_vector", "hybrid_search", "group_by", "bfloat16_vector", "multi_vector"}
    if version >= (2, 4, 0):  # DescribeDatabase (use_database), REST v2 import jobs
        caps |= {"use_database", "bulk_import"}
    if version >= (2, 5, 0):
        caps |= {"bm25", "nullable_fields", "alter_field"}
    if version >= (2, 5, 0):  # text match, filter templating, RunAnalyzer (release notes 2.5.0)
        caps |= {"text_match", "filter_templating", "run_analyzer"}
    if version >= (2, 5, 11):  # multi-language analyzers
        caps |= {"multi_analyzer"}
    if version >= (2, 6, 0):  # phrase match, decay ranker (release notes 2.6.0)
        caps |= {"phrase_match", "decay_ranker", "korean_analyzer"}  # korean_analyzer: lindera with ko-dic
    if version >= (2, 5, 7):  # JSON path index
        caps |= {"json_index"}
    if version >= (2, 6, 2):
        caps |= {"boost_ranker", "ngram_index"}
    if version >= (2, 6, 8):
        caps |= {"highlighter"}
    if version >= (3, 0, 0):  # Function Chain, ORDER BY and query aggregation (release notes 3.0.0)
        caps |= {"function_chain", "order_by", "query_aggregation"}
    if version >= (3, 0, 1):  # RRF with per-request weights (release notes 3.0.1)
        caps |= {"weighted_rrf"}
    if version >= (2, 6, 0):  # AddCollectionField; read-time TTL filtering
        caps |= {"add_field", "collection_ttl"}
    if version >= (2, 6, 2):
        caps |= {"partial_update"}
    if version >= (2, 6, 4):
        caps |= {"geometry", "struct_array"}
    if version >= (2, 6, 6):
        caps |= {"timestamptz"}
    if version >= (2, 6, 18):
        caps |= {"nullable_vector"}
    if version >= (3, 0, 0):
        caps |= {"snapshots", "entity_ttl", "text_type"}
    if os.environ.get("MILVUS_GPU", "").lower() in {"1", "true", "yes"}:
        caps |= {"gpu_index"}
    return frozenset(caps)


def server_vector_indexes(version: tuple[int, int, int], caps: frozenset[str]) -> tuple[str, ...]:
    """From the one index table (common/indexes.py): each type's first server release, GPU types on a GPU build."""
    return indexes.server_vector_indexes(version, gpu="gpu_index" in caps)


def server_scalar_indexes(version: tuple[int, int, int]) -> tuple[str, ...]:
    if version >= (2, 5, 0):
        return ("INVERTED", "BITMAP", "STL_SORT", "Trie")
    if version >= (2, 4, 0):
        return ("INVERTED", "STL_SORT", "Trie")
    return ("STL_SORT", "Trie")


@dataclass(frozen=True)
class EngineInfo:
    kind: str  # "lite" or "server"
    version: tuple[int, int, int]
    raw_version: str
    capabilities: frozenset[str] = field(default_factory=frozenset)
    vector_indexes: tuple[str, ...] = ()
    scalar_indexes: tuple[str, ...] = ()
    actual_version: str | None = None  # set when MILVUS_ASSUME_VERSION describes the engine as another version

    @property
    def label(self) -> str:
        name = "Milvus Lite" if self.kind == "lite" else "Milvus server"
        assumed = f" (assumed; the engine is {self.actual_label})" if self.assumed else ""
        return f"{name} {'.'.join(map(str, self.version))}{assumed}"

    @property
    def assumed(self) -> bool:
        return self.actual_version is not None

    @property
    def actual_label(self) -> str:
        name = "Milvus Lite" if self.kind == "lite" else "Milvus server"
        return f"{name} {'.'.join(map(str, parse_version(self.actual_version or self.raw_version)))}"

    def refusal(self, exc: Exception) -> str:
        """What a lesson reports when an engine refuses a section it was assumed to support.

        Only with MILVUS_ASSUME_VERSION: then the refusal is expected and named. Otherwise the
        engine was *described* as able to do it, so the error is real and is raised again.
        """
        if not self.assumed:
            raise exc
        reason = getattr(exc, "message", None) or str(exc)
        return f"refused by {self.actual_label}: {reason.strip().splitlines()[0][:160]}"

    def not_honoured(self, what: str) -> str:
        """For a section the engine accepted but did not carry out (e.g. group_by on 2.3)."""
        return f"not honoured by {self.actual_label}: {what}"

    def not_sent(self, capability: str, since: tuple[int, int, int]) -> str | None:
        """Under MILVUS_ASSUME_VERSION the real server may predate a field type or an option; the 2.3.5 server
        exits when asked to create a collection with a TIMESTAMPTZ field (measured), so a request that needs a
        newer server is never sent to an older one: this returns the named refusal instead (None: send it)."""
        if self.assumed and parse_version(self.actual_version) < since:
            needed = ".".join(map(str, since))
            return f"{capability}: refused by {self.actual_label}: not sent (it needs Milvus {needed})"
        return None

    def verified(self, capability: str) -> bool:
        """Whether a run on these machines has shown the capability (Lite 3.2.2, server 2.3.5), not only docs."""
        return capability in (LITE if self.kind == "lite" else SERVER)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def behaviour(self, divergence: str) -> object:
        """What this engine does where engines differ (common/divergences.py, measured by tests/test_divergence.py)."""
        return divergences.expected(divergence, self.kind, self.version)

    def skip_reason(self, capability: str) -> str:
        """The one line a lesson prints (and returns) when it skips a section."""
        return f"skipped: needs {capability} (have {self.label})"


def parse_version(raw: str) -> tuple[int, int, int]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", raw)
    if not match:
        raise ValueError(f"cannot read a version from {raw!r}")
    return tuple(int(part) for part in match.groups())  # type: ignore[return-value]


def describe(kind: str, raw_version: str) -> EngineInfo:
    """Build the capability set from the engine kind and its version string."""
    version = parse_version(raw_version)
    if kind == "lite":
        return EngineInfo("lite", version, raw_version, LITE, LITE_VECTOR_INDEXES, LITE_SCALAR_INDEXES)
    caps = server_capabilities(version)
    return EngineInfo(
        "server",
        version,
        raw_version,
        caps,
        server_vector_indexes(version, caps),
        server_scalar_indexes(version),
    )


def detect(client: MilvusClient, uri: str) -> EngineInfo:
    """Ask the engine behind ``client`` for its version and describe it (or as MILVUS_ASSUME_VERSION says)."""
    raw = client.get_server_version()
    # a Lite file opened directly, or one served over gRPC (python -m milvus_lite server): still Milvus Lite
    kind = "lite" if is_lite_uri(uri) or raw.startswith("milvus_lite") else "server"
    assumed = os.environ.get("MILVUS_ASSUME_VERSION", "").strip()
    if assumed and kind == "server":
        try:
            return dataclasses.replace(describe(kind, assumed), actual_version=raw)
        except ValueError:
            raise BadInput(
                f"MILVUS_ASSUME_VERSION={assumed!r} is not a version", "use e.g. 3.0.2, or unset it"
            ) from None
    return describe(kind, raw)
