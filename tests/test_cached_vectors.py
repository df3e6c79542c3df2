"""Reading every vector from the embedding cache without loading the model (what keeps lesson 2.6 short)."""

from __future__ import annotations

import json
import subprocess
import sys

from common.config import REPO_ROOT
from common.embeddings import EmbeddingCache, cached_vectors, load_model

import numpy as np
import pytest

TEXTS = ["컬렉션을 만들면", "a second passage", "컬렉션을 만들면"]


@pytest.fixture
def filled(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("EMBEDDING_MODEL", raising=False)
    cache = EmbeddingCache(load_model(), tmp_path / "embeddings")
    return cache, cache.encode(TEXTS, progress=False)


def test_cached_vectors_are_the_encoded_ones_in_order(filled):
    cache, encoded = filled
    name, vectors = cached_vectors(TEXTS[::-1])
    assert name == "all-MiniLM-L6-v2" and np.array_equal(vectors, encoded[::-1])


def test_a_text_not_in_the_cache_means_load_the_model(filled):
    assert cached_vectors(TEXTS + ["never encoded"]) is None


def test_a_damaged_cache_is_not_trusted(filled):
    cache, _ = filled
    cache.path.write_bytes(b"not a numpy file")
    assert cached_vectors(TEXTS) is None


def test_reading_the_cache_imports_no_model_code(filled, tmp_path):
    code = (
        "import json, sys\n"
        "from common.embeddings import cached_vectors\n"
        f"found = cached_vectors({TEXTS!r})\n"
        "print(json.dumps([found is not None, 'sentence_transformers' in sys.modules, 'torch' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, False, False]
