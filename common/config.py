"""Settings: ``.env`` at the repository root, then the environment, then defaults.

A variable set in the environment wins over the same key in ``.env``
(python-dotenv's ``override=False``), so ``MILVUS_URI=... python lesson.py``
always does what it says. Every key is documented in ``.env.example``.

One wrinkle: pymilvus reads ``MILVUS_URI`` (from the environment and from a
``.env`` it finds) when it is *imported*, and refuses a file path, which is
exactly what a Milvus Lite URI is. ``shield_lite_uri`` runs before pymilvus
is imported (``common/__init__.py``) and moves a Lite path to
``COURSE_LITE_URI``, where pymilvus does not look; ``load_settings`` reads it
back. Server URIs are left alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LITE_DB = REPO_ROOT / ".milvus" / "course.db"
LITE_KEY = "COURSE_LITE_URI"  # where shield_lite_uri keeps a Lite path away from pymilvus


@dataclass(frozen=True)
class Settings:
    milvus_uri: str
    milvus_token: str
    connect_timeout: float
    embedding_model: str
    image_model: str
    kafka_bootstrap_servers: str
    reports_dir: Path
    cache_dir: Path

    @property
    def is_lite(self) -> bool:
        return is_lite_uri(self.milvus_uri)


def is_lite_uri(uri: str) -> bool:
    """Milvus Lite takes a local file path; a server takes http(s)/tcp/unix URIs."""
    return "://" not in uri


def resolve_uri(uri: str) -> str:
    """Make a relative Lite path absolute from the repo root, not the cwd."""
    if not uri:
        return str(DEFAULT_LITE_DB)
    if is_lite_uri(uri):
        path = Path(uri).expanduser()
        if not path.is_absolute():
            path = REPO_ROOT / path
        return str(path)
    return uri


def load_settings(env_file: Path | None = None) -> Settings:
    """Read settings fresh each call, so tests and lessons can change them."""
    env_file = env_file or REPO_ROOT / ".env"
    file_values = dotenv_values(env_file) if env_file.exists() else {}

    def get(key: str, default: str = "") -> str:
        value = os.environ.get(key) or (os.environ.get(LITE_KEY) if key == "MILVUS_URI" else None)
        return value or file_values.get(key) or default

    timeout_text = get("MILVUS_CONNECT_TIMEOUT", "5")
    try:
        timeout = float(timeout_text)
    except ValueError:
        from common.errors import CourseError

        raise CourseError(
            f"MILVUS_CONNECT_TIMEOUT={timeout_text!r} is not a number of seconds",
            "set it to e.g. 5 in .env or the environment",
        ) from None

    return Settings(
        milvus_uri=resolve_uri(get("MILVUS_URI")),
        milvus_token=get("MILVUS_TOKEN"),
        connect_timeout=timeout,
        embedding_model=get("EMBEDDING_MODEL"),
        image_model=get("IMAGE_MODEL"),
        kafka_bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS"),
        reports_dir=Path(get("REPORTS_DIR", str(REPO_ROOT / "reports"))),
        cache_dir=Path(get("COURSE_CACHE_DIR", str(REPO_ROOT / ".cache"))),
    )


def redact(secret: str) -> str:
    """Show that a token is set without showing it: ``root:Milvus`` → ``root:****``."""
    if not secret:
        return "(not set)"
    if ":" in secret:
        user, _ = secret.split(":", 1)
        return f"{user}:****"
    return secret[:2] + "****" if len(secret) > 8 else "****"


def setting_source(key: str, env_file: Path | None = None) -> str:
    """Where a setting comes from: 'environment', '.env' or 'default'."""
    if os.environ.get(key) or (key == "MILVUS_URI" and os.environ.get(LITE_KEY)):
        return "environment"
    env_file = env_file or REPO_ROOT / ".env"
    if env_file.exists() and dotenv_values(env_file).get(key):
        return ".env"
    return "default"


def shield_lite_uri(env_file: Path | None = None) -> None:
    """Hide a Milvus Lite path in MILVUS_URI from pymilvus' import-time check (see module doc)."""
    env_file = env_file or REPO_ROOT / ".env"
    uri = os.environ.get("MILVUS_URI")
    from_file = uri is None
    if from_file and env_file.exists():
        uri = dotenv_values(env_file).get("MILVUS_URI")
    if uri and is_lite_uri(uri):
        if not from_file:
            os.environ[LITE_KEY] = uri
        os.environ["MILVUS_URI"] = ""  # pymilvus' load_dotenv() does not override a set variable
