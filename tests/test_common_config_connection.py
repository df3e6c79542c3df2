"""Unit tests of settings, engine description and connection errors (no engine needed)."""

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from common.config import (
    DEFAULT_LITE_DB,
    REPO_ROOT,
    is_lite_uri,
    load_settings,
    redact,
    resolve_uri,
    setting_source,
    shield_milvus_uri,
)
from common.connection import connect, server_address
from common.engine import describe, parse_version
from common.errors import CourseError, EngineUnavailable

import pytest


def test_default_uri_is_the_repo_lite_file(monkeypatch, tmp_path):
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("COURSE_MILVUS_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env_file=tmp_path / "missing.env")
    assert settings.milvus_uri == str(DEFAULT_LITE_DB)
    assert is_lite_uri(settings.milvus_uri)


def test_env_file_then_environment(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MILVUS_URI=http://from-file:19530\nMILVUS_TOKEN=root:Milvus\n")
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("COURSE_MILVUS_URI", raising=False)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    assert load_settings(env_file).milvus_uri == "http://from-file:19530"
    assert load_settings(env_file).milvus_token == "root:Milvus"
    monkeypatch.setenv("MILVUS_URI", "http://from-env:19530")
    assert load_settings(env_file).milvus_uri == "http://from-env:19530"
    assert setting_source("MILVUS_URI", env_file) == "environment"
    assert setting_source("MILVUS_TOKEN", env_file) == ".env"


def test_milvus_uri_is_hidden_from_pymilvus_but_still_used(monkeypatch, tmp_path):
    import os

    for value in (str(tmp_path / "a.db"), "http://[::1:1", ":99999"):  # a Lite path, and values pymilvus chokes on
        monkeypatch.setenv("MILVUS_URI", value)
        monkeypatch.delenv("COURSE_MILVUS_URI", raising=False)
        shield_milvus_uri()
        assert os.environ["MILVUS_URI"] == ""  # what pymilvus sees at import
        assert os.environ["COURSE_MILVUS_URI"] == value
    env_file = tmp_path / ".env"
    env_file.write_text("MILVUS_URI=.milvus/b.db\n")
    monkeypatch.delenv("MILVUS_URI")
    monkeypatch.delenv("COURSE_MILVUS_URI")
    shield_milvus_uri()
    assert os.environ["MILVUS_URI"] == ""
    assert load_settings(env_file).milvus_uri == str(REPO_ROOT / ".milvus/b.db")


def test_malformed_milvus_uri_gets_one_clear_message(monkeypatch, tmp_path):
    for value, says in (
        ("http://", "has no host"),
        (":99999", "ends in .db"),
        ("unix://x", "scheme 'unix'"),
        ("http://[::1:1", "cannot be parsed"),
        ("http://h:99999", "cannot be parsed"),
    ):
        monkeypatch.setenv("COURSE_MILVUS_URI", value)
        monkeypatch.setenv("MILVUS_URI", "")
        with pytest.raises(CourseError, match=re.escape(says)) as caught:
            load_settings(tmp_path / "missing.env")
        assert "MILVUS_URI" in caught.value.message and "http://127.0.0.1:19530" in caught.value.fix


def test_malformed_env_file_names_the_line(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text('MILVUS_TOKEN=root:Milvus\nMILVUS_URI="http://localhost:19530\nEMBEDDING_MODEL=x\n')
    with pytest.raises(CourseError, match="line 2 cannot be read") as caught:
        load_settings(env_file)
    assert str(env_file) in caught.value.message and "quote" in caught.value.fix


@pytest.mark.parametrize("value", ["-3", "0", "soon", "nan", "1e9"])
def test_connect_timeout_must_be_a_sensible_number(monkeypatch, value):
    monkeypatch.setenv("MILVUS_CONNECT_TIMEOUT", value)
    with pytest.raises(CourseError, match="MILVUS_CONNECT_TIMEOUT"):
        load_settings()


def test_bad_timeout_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MILVUS_CONNECT_TIMEOUT", "soon")
    with pytest.raises(CourseError, match="MILVUS_CONNECT_TIMEOUT"):
        load_settings()


def test_relative_lite_path_resolves_from_repo_root():
    assert resolve_uri(".milvus/x.db") == str(REPO_ROOT / ".milvus/x.db")
    assert resolve_uri("http://h:1") == "http://h:1"
    assert is_lite_uri("/tmp/a.db") and not is_lite_uri("https://x")


def test_redact_never_shows_the_secret():
    assert redact("root:Milvus") == "root:****"
    assert "secret" not in redact("secretapikey123")
    assert redact("") == "(not set)"


def test_server_address_defaults():
    assert server_address("http://localhost") == ("localhost", 19530)
    assert server_address("https://db.example:443") == ("db.example", 443)
    with pytest.raises(EngineUnavailable):
        server_address("http://")


def test_connect_to_closed_port_fails_fast_with_fix():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(EngineUnavailable) as err:
        connect(f"http://127.0.0.1:{port}", timeout=1)
    assert time.monotonic() - start < 2
    text = str(err.value)
    assert f"127.0.0.1:{port}" in text and "fix:" in text and "MILVUS_URI" in text


def test_parse_version_and_describe_engines():
    assert parse_version("milvus_lite-3.2.2") == (3, 2, 2)
    assert parse_version("v2.3.5-lite") == (2, 3, 5)
    lite = describe("lite", "milvus_lite-3.2.2")
    assert lite.has("bm25") and lite.has("hybrid_search") and not lite.has("rbac")
    assert "IVF_PQ" not in lite.vector_indexes
    old = describe("server", "v2.3.5-lite")
    assert not old.has("group_by") and not old.has("bm25") and old.has("rbac")
    assert "IVF_PQ" in old.vector_indexes and "INVERTED" not in old.scalar_indexes
    new = describe("server", "v3.0.1")
    assert new.has("bm25") and new.has("group_by") and "INVERTED" in new.scalar_indexes
    assert old.skip_reason("bm25") == "skipped: needs bm25 (have Milvus server 2.3.5)"
    with pytest.raises(ValueError):
        parse_version("unknown")


def write_cp949_env(folder: Path) -> Path:
    env = folder / ".env"
    env.write_bytes("# 한글 주석\nMILVUS_CONNECT_TIMEOUT=5\n".encode("cp949"))
    return env


def test_a_cp949_env_file_is_one_clear_error(tmp_path):
    env = write_cp949_env(tmp_path)
    with pytest.raises(CourseError, match=r"line 1 is not UTF-8 text") as caught:
        load_settings(env)
    assert "save .env as UTF-8" in caught.value.fix


def test_an_unreadable_env_file_is_one_clear_error(tmp_path):
    env = tmp_path / ".env"
    env.symlink_to(env)  # a symlink to itself: unreadable even for root (ELOOP), unlike chmod 000
    with pytest.raises(CourseError, match=r"cannot read .*\.env"):
        load_settings(env)
    folder = tmp_path / "dir"
    (folder / ".env").mkdir(parents=True)
    with pytest.raises(CourseError, match="is a folder, not a settings file"):
        load_settings(folder / ".env")


@pytest.mark.parametrize("kind", ["cp949", "unreadable"])
def test_pymilvus_import_survives_a_bad_env_file(tmp_path, kind):
    """pymilvus runs load_dotenv() at import; a bad .env must reach the course's one-line error, not crash there."""
    if kind == "cp949":
        write_cp949_env(tmp_path)
    else:
        (tmp_path / ".env").symlink_to("/proc/self/mem")  # reading it fails with EIO, for root too
    code = (
        "import common, pymilvus\nfrom pathlib import Path\nfrom common import cli\n"
        "from common.config import load_settings\ncli.run(lambda: load_settings(Path('.env')) and 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )  # python -c: python-dotenv looks for .env in the cwd
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2, done.stderr
    assert ("is not UTF-8 text" if kind == "cp949" else "cannot read") in done.stderr
