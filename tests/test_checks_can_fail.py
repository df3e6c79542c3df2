"""The checks lessons print as proof must be able to fail: break each premise once and watch the check flip.

These run a lesson's own functions in this process against a Milvus Lite file of their own (not the
engine of the lesson pass), so they need no server.
"""

import importlib.util

from common.config import REPO_ROOT
from common.data import make_dataset
from common.engine import describe

import pytest
from pymilvus import MilvusClient

LITE = describe("lite", "milvus_lite 3.2.2")  # the engine the fixture opens


def load(path: str):
    spec = importlib.util.spec_from_file_location(path.replace("/", "_"), REPO_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lite(tmp_path):
    client = MilvusClient(uri=str(tmp_path / "checks.db"))
    yield client
    client.close()


def test_insert_and_search_upsert_checks_fail_when_the_upsert_adds_a_row(lite):
    lesson = load("step01_basics/04_insert_and_search.py")
    data = make_dataset(300, 16, 2, seed=1)
    rows = lesson.article_rows(data.base)
    lesson.create_articles(lite, 16)
    lesson.insert_articles(lite, rows, 100)
    lesson.index_and_load(lite, LITE)
    honest = lesson.query_get_upsert_delete(lite, rows, data.queries[1].tolist())
    assert honest["after_upsert"]["rows"] == 300 and honest["after_upsert"]["text"] == "article 42, rewritten"

    lesson.drop_if_exists(lite, lesson.ARTICLES)
    lesson.create_articles(lite, 16)
    lesson.insert_articles(lite, rows, 100)
    lesson.index_and_load(lite, LITE)
    broken = [dict(row) for row in rows]
    broken[42]["id"] = 10_000  # the "upsert" now carries a key that is not stored: it adds a row
    result = lesson.query_get_upsert_delete(lite, broken, data.queries[1].tolist())
    assert result["after_upsert"]["rows"] == 301  # the lesson's "no duplicate" check (expects 300) now fails
    assert result["after_upsert"]["text"] != "article 42, rewritten"  # and so does "text is new"


def test_search_tuning_rule_check_refuses_what_it_must(lite):
    lesson = load("step02_core_features/02_search_tuning.py")
    assert "below limit" in lesson.our_check("HNSW", {"ef": 5})
    assert lesson.our_check("HNSW", {"ef": 10}) == "accepted"  # the check does not refuse everything
    assert lesson.our_check("IVF_FLAT", {"nprobe": 64}, {"nlist": 64}) == "accepted"
    assert "outside 1..nlist" in lesson.our_check("IVF_FLAT", {"nprobe": 65}, {"nlist": 64})


def test_ratio_rule_and_cheapest_setting_disagree_on_a_known_sweep():
    lesson = load("step02_core_features/02_search_tuning.py")
    sweep = [
        {"ef": 10, "tuning recall": 0.70, "batched ms/query": 0.20},
        {"ef": 64, "tuning recall": 0.93, "batched ms/query": 0.25},
        {"ef": 128, "tuning recall": 0.96, "batched ms/query": 0.30},
    ]
    assert lesson.ratio_choice(sweep, 0.95)["ef"] == 10  # the rule takes the cheapest, whatever its recall
    assert lesson.choose(sweep, "ef", 0.95)["ef"] == 128
    assert lesson.choose(sweep, "ef", 0.99) is None
