"""The Milvus 3.0 branches, run against the server we have: MILVUS_ASSUME_VERSION=3.0.2.

Learners on the Docker route use Milvus 3.0; no 3.0 server runs here. With MILVUS_ASSUME_VERSION the
lessons describe the embedded 2.3.5 server as 3.0.2 and take every 3.0 branch against it. Each lesson
must still exit 0 without a traceback, and each section the real server refuses (or accepts and then
ignores) must be reported by name. The request encoding those branches use is checked separately,
without a server, in test_contract_pymilvus.py.

Only the lessons with version-dependent sections run here (the rest behave the same on every version).
"""

from __future__ import annotations

import pytest

from tests.helpers import run_lesson_output

pytestmark = pytest.mark.lesson

ASSUMED = {"MILVUS_ASSUME_VERSION": "3.0.2"}
# lesson, small arguments, and the sections the embedded 2.3.5 server refuses when taken for 3.0.2
REFUSED_BY_2_3 = {
    "step01_basics/03_schema_and_collections.py": ([], {"BFLOAT16_VECTOR", "SPARSE_FLOAT_VECTOR"}),
    "step02_core_features/01_index_comparison.py": (
        ["--n", "4000", "--queries", "50", "--latency-queries", "10", "--build-timeout", "60"],
        {"HNSW_SQ"},
    ),
    "step02_core_features/04_filtered_and_hybrid.py": (
        ["--n", "4000", "--queries", "30"],
        {"group_by", "hybrid", "bm25"},
    ),
    "step03_use_cases/01_text_search.py": ([], {"bm25"}),
    "step04_advanced/02_advanced_indexing.py": (["--n", "4000", "--queries", "20"], {"scalar indexes"}),
}


@pytest.fixture
def server_2_3(engine_info):
    if engine_info.kind != "server" or engine_info.version[:2] != (2, 3):
        pytest.skip(
            f"needs the embedded Milvus server 2.3 (have {engine_info.label}): "
            "MILVUS_ASSUME_VERSION describes a server as another version"
        )
    return engine_info


def test_environment_check_marks_what_this_machine_has_not_verified(server_2_3):
    result, stderr = run_lesson_output("step01_basics/01_environment_check.py", "--pings", "5", env=ASSUMED)
    assert result["assumed"] and "Traceback" not in stderr
    assert {"bfloat16_vector", "bm25", "hybrid_search", "group_by"} <= set(result["unverified_capabilities"])
    assert "rbac" not in result["unverified_capabilities"]  # run here: the secured-server pass shows it


@pytest.mark.parametrize("lesson", sorted(REFUSED_BY_2_3))
def test_3_0_branches_end_in_named_refusals(server_2_3, lesson):
    argv, expected = REFUSED_BY_2_3[lesson]
    result, stderr = run_lesson_output(lesson, *argv, env=ASSUMED, timeout=900)
    assert "Traceback" not in stderr, stderr[-3000:]
    refused = {
        line.split(":")[0]: line
        for line in result.get("refused", []) + result.get("skipped", [])
        if "refused by" in line or "not honoured by" in line
    }
    assert set(refused) == expected, result.get("refused", []) + result.get("skipped", [])
    for line in refused.values():
        assert "Milvus server 2.3.5" in line, line
