"""Settings: ``.env`` at the repository root, then the environment, then defaults.

A variable set in the environment wins over the same key in ``.env``
(python-dotenv's ``override=False``), so ``MILVUS_URI=... python lesson.py``
always does what it says. Every key is documented in ``.env.example``.

One wrinkle: pymilvus reads ``MILVUS_URI`` (from the environment and from a
``.env`` it finds) when it is *imported*, and raises "Illegal uri" for a file
path (which is exactly what a Milvus Lite URI is) or any malformed value, before
a lesson can say anything useful. ``shield_milvus_uri`` runs before pymilvus is
imported (``common/__init__.py``) and moves the value to ``COURSE_MILVUS_URI``,
where pymilvus does not look; ``load_settings`` reads it back and
``resolve_uri`` checks it, so a bad value gets one clear message.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from common.errors import BadInput, CourseError

import dotenv
from dotenv import dotenv_values
from dotenv.parser import parse_stream

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LITE_DB = REPO_ROOT / ".milvus" / "course.db"
SHIELD_KEY = "COURSE_MILVUS_URI"  # where shield_milvus_uri keeps MILVUS_URI away from pymilvus
SERVER_SCHEMES = ("http", "https", "tcp", "grpc")
DEFAULT_APP_METRICS_PORT = 8000  # lesson 4.6's /metrics; monitoring/prometheus.yml scrapes the same port
URI_FIX = (
    "leave MILVUS_URI unset for Milvus Lite (.milvus/course.db), or set it to a file path ending in .db "
    "(Milvus Lite) or to a server URI such as http://127.0.0.1:19530"
)


@dataclass(frozen=True)
class Settings:
    milvus_uri: str
    milvus_token: str
    connect_timeout: float
    embedding_model: str
    image_model: str
    kafka_bootstrap_servers: str
    app_metrics_port: int
    reports_dir: Path
    cache_dir: Path


def is_lite_uri(uri: str) -> bool:
    """Milvus Lite takes a local file path; a server takes http(s)/tcp/unix URIs."""
    return "://" not in uri


def check_uri(uri: str) -> None:
    """Raise ``BadInput`` for a URI neither Milvus Lite nor a server client accepts."""
    if is_lite_uri(uri):
        if not uri.endswith(".db"):
            raise BadInput(
                f"MILVUS_URI={uri!r} is not a server URI and not a Milvus Lite file (which ends in .db)", URI_FIX
            )
        return
    try:
        parsed = urlparse(uri)
        port = parsed.port  # raises for a port that is not a number or out of range
    except ValueError as exc:
        raise BadInput(f"MILVUS_URI={uri!r} cannot be parsed: {exc}", URI_FIX) from None
    if parsed.scheme not in SERVER_SCHEMES:
        raise BadInput(
            f"MILVUS_URI={uri!r}: scheme {parsed.scheme!r} is not one of {', '.join(SERVER_SCHEMES)}", URI_FIX
        )
    if not parsed.hostname:
        raise BadInput(f"MILVUS_URI={uri!r} has no host", URI_FIX)
    del port


def resolve_uri(uri: str) -> str:
    """Check ``uri``; make a relative Lite path absolute from the repo root, not the cwd."""
    if not uri:
        return str(DEFAULT_LITE_DB)
    check_uri(uri)
    if is_lite_uri(uri):
        path = Path(uri).expanduser()
        if not path.is_absolute():
            path = REPO_ROOT / path
        return str(path)
    return uri


def load_settings(env_file: Path | None = None) -> Settings:
    """Read settings fresh each call (``.env`` read once per call), so tests and lessons can change them."""
    file_values = read_env_file(env_file or REPO_ROOT / ".env", strict=True)

    def get(key: str, default: str = "") -> str:
        value = os.environ.get(key) or (os.environ.get(SHIELD_KEY) if key == "MILVUS_URI" else None)
        return value or file_values.get(key) or default

    timeout_text = get("MILVUS_CONNECT_TIMEOUT", "5")
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = float("nan")
    if not 0 < timeout <= 600:  # also false for NaN
        raise CourseError(
            f"MILVUS_CONNECT_TIMEOUT={timeout_text!r} is not a number of seconds between 0 and 600",
            "set it to e.g. 5 in .env or the environment",
        )

    return Settings(
        milvus_uri=resolve_uri(get("MILVUS_URI")),
        milvus_token=get("MILVUS_TOKEN"),
        connect_timeout=timeout,
        embedding_model=get("EMBEDDING_MODEL"),
        image_model=get("IMAGE_MODEL"),
        kafka_bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS"),
        app_metrics_port=port_setting("APP_METRICS_PORT", get("APP_METRICS_PORT", str(DEFAULT_APP_METRICS_PORT))),
        reports_dir=folder_setting("REPORTS_DIR", get("REPORTS_DIR", str(REPO_ROOT / "reports"))),
        cache_dir=Path(get("COURSE_CACHE_DIR", str(REPO_ROOT / ".cache"))),
    )


def folder_setting(key: str, text: str) -> Path:
    """A folder the course writes into (created when first needed): refused up front when it cannot be one."""
    path = Path(text).expanduser().absolute()
    fix = f"set {key} to a folder you can write (it is created when missing), or unset it"
    if path.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise CourseError(f"{key}={text!r}: /{path.parts[1]} is the kernel's, not a place for files", fix)
    existing = next(p for p in [path, *path.parents] if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is inside {existing}, which is a file"
        raise CourseError(f"{key}={text!r} {where}, not a folder", fix)
    return path


def port_setting(key: str, text: str) -> int:
    """A TCP port from a setting (0 = any free port)."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise CourseError(
            f"{key}={text!r} is not a port number", f"set {key} to a number from 0 to 65535 (0: any free port)"
        )
    return int(text)


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
    if os.environ.get(key) or (key == "MILVUS_URI" and os.environ.get(SHIELD_KEY)):
        return "environment"
    if read_env_file(env_file or REPO_ROOT / ".env").get(key):
        return ".env"
    return "default"


ENV_FIX = "write each setting as KEY=value on its own line (close every quote), or delete the line"


def env_text(env_file: Path) -> str | None:
    """The text of ``env_file`` (None when there is none); unreadable or non-UTF-8 files are one clear error."""
    try:
        data = env_file.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise CourseError(
            f"{env_file} is a folder, not a settings file", "move it away, or copy .env.example to .env"
        ) from None
    except OSError as exc:
        raise CourseError(
            f"cannot read {env_file}: {exc.strerror or exc}",
            f"make it readable (chmod u+r {env_file.name}) or delete it",
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CourseError(
            f"{env_file} line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            "save .env as UTF-8 (your editor's encoding setting), or delete that line",
        ) from None


def env_file_problems(env_file: Path) -> list[str]:
    """Lines of ``env_file`` that python-dotenv cannot parse (it would skip them with a warning)."""
    text = env_text(env_file)
    return [] if text is None else parse_problems(text)


def parse_problems(text: str) -> list[str]:
    return [
        f"line {binding.original.line} cannot be read: {binding.original.string.strip()[:60]!r}"
        for binding in parse_stream(io.StringIO(text))
        if binding.error
    ]


def read_env_file(env_file: Path, strict: bool = False) -> dict[str, str]:
    """The settings in ``env_file`` (empty when it is missing).

    With ``strict`` a line python-dotenv cannot parse is an error naming it; otherwise it is left out.
    """
    text = env_text(env_file)
    if text is None:
        return {}
    problems = parse_problems(text) if strict else []
    if problems:
        raise CourseError(f"{env_file}: {problems[0]}", ENV_FIX)
    logger = logging.getLogger("dotenv.main")
    previous = logger.level
    logger.setLevel(logging.ERROR)  # bad lines are reported once, clearly (strict), or skipped
    try:
        return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    finally:
        logger.setLevel(previous)


def _tolerant_load_dotenv(*args, **kwargs) -> bool:
    """python-dotenv's ``load_dotenv``, but a ``.env`` it cannot read or decode loads nothing instead of raising.

    pymilvus calls ``load_dotenv()`` when it is imported, before any lesson code runs: a ``.env`` saved in
    cp949 or one that cannot be read would end every lesson in a traceback from inside pymilvus. The course
    reads ``.env`` itself (``load_settings``) and names such a file in one line, with the fix.
    """
    try:
        return _ORIGINAL_LOAD_DOTENV(*args, **kwargs)
    except (UnicodeDecodeError, OSError):
        return False


_ORIGINAL_LOAD_DOTENV = dotenv.load_dotenv


def shield_milvus_uri() -> None:
    """Hide MILVUS_URI from pymilvus' import-time parser (see module doc); ``load_settings`` reads it back.

    Also makes pymilvus' own ``load_dotenv()`` tolerate an unreadable or non-UTF-8 ``.env`` (the course
    reports it clearly when it reads the settings).
    """
    logging.getLogger("dotenv.main").setLevel(logging.ERROR)  # pymilvus' own load_dotenv() would warn per bad line
    dotenv.load_dotenv = _tolerant_load_dotenv  # pymilvus.settings does `from dotenv import load_dotenv`
    uri = os.environ.get("MILVUS_URI")
    if uri:  # set in the environment: it wins over .env, so keep it
        os.environ[SHIELD_KEY] = uri
    os.environ["MILVUS_URI"] = ""  # pymilvus' load_dotenv() does not override a set variable
