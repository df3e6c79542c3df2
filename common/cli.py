"""What every lesson shares on the command line: flags, engine banner, clean errors."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator

from common.config import load_settings, resolve_uri
from common.connection import connect, quiet_pymilvus
from common.engine import EngineInfo, detect
from common.errors import CourseError, interrupt_on_signal

from pymilvus import MilvusClient


def lesson_parser(doc: str | None, several_uris: bool = False) -> argparse.ArgumentParser:
    """An argument parser whose help is the lesson's docstring, with ``--uri``.

    With ``several_uris`` the flag may be repeated and ``args.uri`` is a list
    (or None when not given).
    """
    parser = argparse.ArgumentParser(
        description=(doc or "").strip(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--uri", default=None, action="append" if several_uris else "store",
        help="Milvus URI (default: MILVUS_URI from .env/environment, else the Milvus Lite file .milvus/course.db)"
        + ("; repeat it to run the same workload on several engines" if several_uris else ""),
    )
    return parser


@contextlib.contextmanager
def engine(uri: str | None = None, quiet: bool = False) -> Iterator[tuple[MilvusClient, EngineInfo]]:
    """Connect, detect the engine, print a one-line banner, and close at the end."""
    target = resolve_uri(uri) if uri else load_settings().milvus_uri
    client = connect(target)
    try:
        info = detect(client, target)
        if not quiet:
            print(f"engine: {info.label} at {target}")
        yield client, info
    finally:
        with quiet_pymilvus(), contextlib.suppress(Exception):
            client.close()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM (CI cancelling, `kill`, a test timeout) raises KeyboardInterrupt,
    so a lesson's ``finally`` stops the server or broker it started instead of leaving it running."""
    previous = signal.signal(signal.SIGTERM, interrupt_on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(main: Callable[[], dict]) -> None:
    """Run a lesson's ``main`` as a script: a ``CourseError`` becomes one message and exit 2."""
    try:
        main()
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
