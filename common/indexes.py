"""Vector index types: default parameters, search knobs, memory arithmetic, and checks.

Engines do not always stop a mistake: Milvus Lite accepts ``ef`` below the
result limit without complaint, and accepts an unknown index type, then
fails to build it in the background. ``check_index`` and
``check_search_params`` catch these before anything is sent, with the rule
that was broken and how to fix it.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.errors import BadInput

if TYPE_CHECKING:
    from common.engine import EngineInfo

Version = tuple[int, int, int]


@dataclass(frozen=True)
class IndexType:
    """One vector index type: its search knob and which engines build it (the one table the engines read)."""

    knob: str | None  # the search parameter that trades speed for recall
    params: tuple[str, ...]  # its documented build parameters
    lite: bool  # Milvus Lite 3.2.2 builds it (verified)
    server_since: Version | None  # first Milvus server release with it; None: not advertised here
    gpu: bool = False  # needs a GPU build of Milvus


INDEX_TYPES: dict[str, IndexType] = {
    "FLAT": IndexType(None, (), lite=True, server_since=(2, 0, 0)),
    "IVF_FLAT": IndexType("nprobe", ("nlist",), lite=True, server_since=(2, 0, 0)),
    "IVF_SQ8": IndexType("nprobe", ("nlist",), lite=True, server_since=(2, 0, 0)),
    "IVF_PQ": IndexType("nprobe", ("nlist", "m", "nbits"), lite=False, server_since=(2, 0, 0)),
    "HNSW": IndexType("ef", ("M", "efConstruction"), lite=True, server_since=(2, 0, 0)),
    "SCANN": IndexType("nprobe", ("nlist", "with_raw_data"), lite=False, server_since=(2, 3, 0)),
    "HNSW_SQ": IndexType("ef", ("M", "efConstruction", "sq_type", "refine", "refine_type"), True, (2, 6, 0)),
    "HNSW_PQ": IndexType("ef", ("M", "efConstruction", "m", "nbits", "refine", "refine_type"), False, (2, 6, 0)),
    "HNSW_PRQ": IndexType(
        "ef", ("M", "efConstruction", "m", "nbits", "nrq", "refine", "refine_type"), False, (2, 6, 0)
    ),
    "IVF_RABITQ": IndexType("nprobe", ("nlist", "refine", "refine_type"), lite=False, server_since=(2, 6, 0)),
    # needs a local NVMe data path and its own memory/disk settings: known, but not advertised for any engine here
    "DISKANN": IndexType("search_list", (), lite=False, server_since=None),
    "GPU_IVF_FLAT": IndexType("nprobe", ("nlist",), lite=False, server_since=(2, 3, 0), gpu=True),
    "GPU_CAGRA": IndexType(
        "itopk_size", ("intermediate_graph_degree", "graph_degree"), lite=False, server_since=(2, 3, 0), gpu=True
    ),
}
KNOWN = tuple(INDEX_TYPES)
ID_BYTES = 8  # an INT64 primary key kept beside each vector


def lite_vector_indexes() -> tuple[str, ...]:
    return tuple(name for name, kind in INDEX_TYPES.items() if kind.lite)


def server_vector_indexes(version: Version, gpu: bool) -> tuple[str, ...]:
    return tuple(
        name
        for name, kind in INDEX_TYPES.items()
        if kind.server_since is not None and version >= kind.server_since and (gpu or not kind.gpu)
    )


def default_nlist(n: int) -> int:
    """A common rule of thumb: nlist ≈ 4·√N, as a power of two, within [16, 65536]."""
    return int(min(65536, max(16, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


def pq_m(dim: int) -> int:
    """PQ sub-quantizers: m must divide dim, so the largest divisor of dim that is <= dim/4 (>= 16× smaller)."""
    return max(m for m in range(1, max(dim // 4, 1) + 1) if dim % m == 0)


def build_params(index_type: str, n: int, dim: int) -> dict:
    """Build parameters later lessons use for ``n`` vectors of ``dim``.

    Lesson 2.1 writes these out and explains each one; a test keeps the two identical.
    """
    nlist = default_nlist(n)
    return {
        "FLAT": {},
        "IVF_FLAT": {"nlist": nlist},
        "IVF_SQ8": {"nlist": nlist},
        "IVF_PQ": {"nlist": nlist, "m": pq_m(dim), "nbits": 8},
        "HNSW": {"M": 16, "efConstruction": 128},
        "HNSW_SQ": {"M": 16, "efConstruction": 128, "sq_type": "SQ8"},
        "HNSW_PQ": {"M": 16, "efConstruction": 128, "m": pq_m(dim), "nbits": 8},
        "HNSW_PRQ": {"M": 16, "efConstruction": 128, "m": pq_m(dim), "nbits": 8, "nrq": 2},
        "IVF_RABITQ": {"nlist": nlist},
        "SCANN": {"nlist": nlist},  # keeps raw vectors for re-ranking by default
        "DISKANN": {},
        "GPU_IVF_FLAT": {"nlist": nlist},
        "GPU_CAGRA": {"intermediate_graph_degree": 64, "graph_degree": 32},
    }[check_index(index_type)]


def search_knob(index_type: str) -> str | None:
    """The search parameter that trades speed for recall (None for FLAT)."""
    return INDEX_TYPES[check_index(index_type)].knob


def check_index(index_type: str) -> str:
    if index_type not in KNOWN:
        raise BadInput(f"unknown index type {index_type!r}", f"use one of {', '.join(KNOWN)}")
    return index_type


def check_search_params(index_type: str, params: dict, limit: int, build: dict | None = None) -> None:
    """Raise ``BadInput`` when search parameters break the index's rules."""
    check_index(index_type)
    build = build or {}
    ef = params.get("ef")
    if index_type.startswith("HNSW") and ef is not None and ef < limit:
        raise BadInput(
            f"HNSW ef={ef} is below limit={limit}: the search keeps only ef candidates, so it cannot return {limit}",
            f"use ef >= {limit} (ef is the candidate list size; larger = better recall, slower)",
        )
    nprobe, nlist = params.get("nprobe"), build.get("nlist")
    if nprobe is not None and nlist is not None and not 1 <= nprobe <= nlist:
        raise BadInput(
            f"nprobe={nprobe} is outside 1..nlist={nlist}: IVF can probe at most the {nlist} clusters it has",
            f"use 1 <= nprobe <= {nlist}; nprobe = nlist already scans every cluster (exact)",
        )


@dataclass(frozen=True)
class MemoryEstimate:
    bytes_per_vector: float
    fixed_bytes: float  # centroids, codebooks: independent of N
    formula: str

    def total_mb(self, n: int) -> float:
        return (self.bytes_per_vector * n + self.fixed_bytes) / 2**20


def memory(index_type: str, dim: int, params: dict) -> MemoryEstimate:
    """Index memory from the index's own arithmetic (float32 = 4 bytes, INT64 id = 8 bytes)."""
    d, nlist = dim, params.get("nlist", 0)
    if index_type in ("FLAT", "IVF_FLAT", "GPU_IVF_FLAT"):
        fixed = 4 * d * nlist
        formula = "4·d + 8" + (" (+ 4·d·nlist centroids)" if nlist else "")
        return MemoryEstimate(4 * d + ID_BYTES, fixed, formula)
    if index_type == "IVF_SQ8":
        return MemoryEstimate(d + ID_BYTES, 4 * d * nlist, "1·d + 8 (+ 4·d·nlist centroids)")
    if index_type == "IVF_PQ":
        m, nbits = params["m"], params.get("nbits", 8)
        codebook = 4 * d * 2**nbits  # m codebooks of 2^nbits centroids of d/m floats
        return MemoryEstimate(
            m * nbits / 8 + ID_BYTES,
            codebook + 4 * d * nlist,
            f"m·nbits/8 + 8 = {m}·{nbits}/8 + 8 (+ codebooks, centroids)",
        )
    if index_type in ("HNSW", "HNSW_SQ"):
        links = 2 * params.get("M", 16) * 4  # level-0 graph: 2·M neighbours of 4 bytes
        raw = 4 * d if index_type == "HNSW" else d
        label = "4·d" if index_type == "HNSW" else "1·d (SQ8)"
        return MemoryEstimate(raw + links + ID_BYTES, 0, f"{label} + 2·M·4 links + 8")
    if index_type in ("HNSW_PQ", "HNSW_PRQ"):
        m, nbits, nrq = params["m"], params.get("nbits", 8), params.get("nrq", 1) if index_type == "HNSW_PRQ" else 1
        links = 2 * params.get("M", 16) * 4
        codes = nrq * m * nbits / 8
        label = "m·nbits/8" if nrq == 1 else "nrq·m·nbits/8"
        return MemoryEstimate(
            codes + links + ID_BYTES, nrq * 4 * d * 2**nbits, f"{label} + 2·M·4 links + 8 (+ codebooks)"
        )
    if index_type == "SCANN":
        # knowhere's SCANN is 4-bit fast-scan PQ with (d+1)//2 sub-quantizers of 4 bits: ~d/4 bytes of codes
        codes = math.ceil(d / 2) / 2
        return MemoryEstimate(codes + 4 * d + ID_BYTES, 4 * d * nlist, "d/4 (4-bit codes) + 4·d raw for re-ranking + 8")
    if index_type == "GPU_CAGRA":
        return MemoryEstimate(4 * d + 4 * params.get("graph_degree", 32) + ID_BYTES, 0, "4·d + 4·graph_degree + 8")
    raise BadInput(f"no memory model for {index_type!r}", "see docs/step02_core_features.md")


def engine_build_params(info: EngineInfo, params: dict) -> dict:
    """The ``params=`` to give ``index_params.add_index(...)`` so that this engine builds with ``params``.

    pymilvus 3 sends each build parameter as its own key (``nlist``, ``M``, ...), which is what Milvus
    servers read. Milvus Lite 3.2.2 reads build parameters only from one JSON ``params`` entry and ignores
    separate keys without a word: it then builds with its own defaults (HNSW M=16, efConstruction=200;
    IVF nlist=128). That is an engine defect, recorded once as the divergence ``build_params_as_keys``
    (common/divergences.py, measured by tests/test_divergence.py); on such an engine the parameters
    travel as ``{"params": "<json>"}``, the older wire form every engine reads, and nothing else is sent.
    """
    if not params or info.behaviour("build_params_as_keys"):
        return dict(params)
    return {"params": json.dumps(params)}


# describe_index keys that describe the index, not how it was built
DESCRIPTION_KEYS = frozenset(
    {
        "index_type",
        "metric_type",
        "field_name",
        "index_name",
        "total_rows",
        "indexed_rows",
        "pending_index_rows",
        "state",
        "search_params",
        "mmap.enabled",
    }
)


def _number(value):
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
        with contextlib.suppress(ValueError):
            return float(value)
    return value


def reported_build_params(description: dict) -> dict:
    """The build parameters ``describe_index`` reports as applied, with numeric strings as numbers.

    Servers report each one as its own key with a string value (``{"M": "16", ...}``); Milvus Lite
    reports what it applied under ``params`` (pymilvus decodes that JSON to a dict; a JSON string is
    read too). Nothing reported means the engine built with its own defaults.
    """
    found = {key: value for key, value in description.items() if key not in DESCRIPTION_KEYS and key != "params"}
    nested = description.get("params") or {}
    if isinstance(nested, str):
        nested = json.loads(nested)
    found.update(nested)
    return {key: _number(value) for key, value in found.items()}


def unapplied_build_params(description: dict, asked: dict) -> dict:
    """``{name: (asked, reported)}`` for each asked build parameter the engine does not report as applied."""
    reported = reported_build_params(description)
    return {
        key: (value, reported.get(key))
        for key, value in asked.items()
        if key not in reported or str(_number(value)) != str(reported[key])
    }


def applied_build_params(description: dict, asked: dict) -> bool:
    """Whether ``describe_index`` reports every build parameter that was asked for, at the asked value."""
    return not unapplied_build_params(description, asked)
