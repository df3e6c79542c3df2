"""What every lesson shares on the command line: flags, engine banner, clean errors."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from common.config import load_settings, resolve_uri
from common.connection import connect, quiet_pymilvus
from common.engine import EngineInfo, detect
from common.errors import CourseError, interrupt_on_signal
from common.resources import (
    ROWS_AS_LISTS_BYTES_PER_VALUE,
    check_memory,
    hide_machine_error_logs,
    resource_error,
    vector_bytes,
)

from pymilvus import MilvusClient


class InRange:
    """An argparse ``type`` for a number within [low, high]: ``type=cli.int_range(1, 10_000)``.

    A value outside the range, or not a number, is refused by the parser before the lesson
    does anything, with one line that names the option and the range (``LessonParser.error``).
    """

    def __init__(self, kind: type, low: float, high: float):
        self.kind, self.low, self.high = kind, low, high
        self.__name__ = kind.__name__  # argparse names the type in its messages

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.describe()}") from None
        if not self.low <= value <= self.high:
            raise argparse.ArgumentTypeError(f"{text} is out of range: use {self.describe()}")
        return value

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        return (
            f"{what} from {self.low:,} to {self.high:,}"
            if self.kind is int
            else f"{what} from {self.low:g} to {self.high:g}"
        )


def int_range(low: int = 1, high: int = 1_000_000) -> InRange:
    """An integer option within [low, high] (rows, queries, threads, ...)."""
    return InRange(int, low, high)


def float_range(low: float, high: float) -> InRange:
    """A float option within [low, high] (seconds, rates, shares, ...)."""
    return InRange(float, low, high)


class OneOf:
    """An argparse ``type`` for a name from a fixed set (case-insensitive): ``type=cli.OneOf(["FLAT", "HNSW"])``."""

    def __init__(self, names):
        self.names = list(names)
        self.__name__ = "name"

    def __call__(self, text: str) -> str:
        for name in self.names:
            if text.upper() == name.upper():
                return name
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(self.names)}")


def add_list_option(parser: argparse.ArgumentParser, flag: str, item, default: list, help: str) -> None:
    """A list option (``--sizes 1 10 100``): at least one value, each checked by ``item`` (a range or OneOf).

    An empty list (``--sizes`` alone) or a bad value is refused by the parser with one line, exit 2.
    """
    parser.add_argument(
        flag, type=item, nargs="+", default=default, help=f"{help} (default: {' '.join(map(str, default))})"
    )


# Ranges shared by many lessons: big enough for real experiments, small enough to fail fast.
ROWS = int_range(1, 2_000_000)  # 2M × 384-d float32 ≈ 3 GiB: the most this course's machines hold comfortably
DIM = int_range(4, 32_768)  # Milvus' own limit on a vector field's dim is 32,768
SEED = int_range(0, 2**32 - 1)  # NumPy seeds are non-negative


class LessonParser(argparse.ArgumentParser):
    """argparse, but a bad option value is one line on stderr and exit 2 (no usage block).

    A lesson with both ``--n`` and ``--dim`` also gets its memory checked right after parsing, before it
    allocates anything: rows × dim (plus ``--queries``/``--requests``) × ``bytes_per_value``, against the
    memory the machine has free (``resources.check_memory``). A lesson that holds its vectors more compactly
    sets ``parser.bytes_per_value``.
    """

    bytes_per_value = ROWS_AS_LISTS_BYTES_PER_VALUE

    def error(self, message: str):
        self.exit(2, f"error: {message} (see --help)\n")

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        n, dim = getattr(parsed, "n", None), getattr(parsed, "dim", None)
        if isinstance(n, int) and isinstance(dim, int):
            extra = next(
                (getattr(parsed, k) for k in ("queries", "requests") if isinstance(getattr(parsed, k, None), int)), 0
            )
            check_memory(
                vector_bytes(n + extra, dim, self.bytes_per_value), f"{n:,} rows of {dim:,} dimensions", "--n or --dim"
            )
        return parsed


def lesson_parser(doc: str | None, several_uris: bool = False) -> argparse.ArgumentParser:
    """An argument parser whose help is the lesson's docstring, with ``--uri``.

    With ``several_uris`` the flag may be repeated and ``args.uri`` is a list
    (or None when not given). Numeric options use ``int_range``/``float_range`` so that
    out-of-range values are refused before any work starts.
    """
    parser = LessonParser(description=(doc or "").strip(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--uri",
        default=None,
        action="append" if several_uris else "store",
        help="Milvus URI (default: MILVUS_URI from .env/environment, else the Milvus Lite file .milvus/course.db)"
        + ("; repeat it to run the same workload on several engines" if several_uris else ""),
    )
    return parser


@contextlib.contextmanager
def engine(uri: str | None = None, quiet: bool = False) -> Iterator[tuple[MilvusClient, EngineInfo]]:
    """Connect, detect the engine, print a one-line banner, and close at the end."""
    settings = load_settings()
    target = resolve_uri(uri) if uri else settings.milvus_uri
    client = connect(target, settings=settings)
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


def run(main: Callable[..., object], *args) -> None:
    """The one error boundary of every entry point (lessons, runner, grader, server launcher).

    A ``CourseError`` becomes its message and exit 2, Ctrl-C (or SIGTERM inside
    ``sigterm_as_interrupt``) one ``interrupted`` line and exit 130; an int that
    ``main`` returns is the exit status, anything else (a lesson's figures) is 0.
    A full disk or a file the engine may not change (``resources.resource_error``) is one line too.
    Any other exception is a bug and keeps its traceback.

    In a Jupyter kernel (a lesson opened as a notebook) nothing exits: ``main`` gets no flags (the
    kernel's own ``-f kernel.json`` is not the lesson's; ``%run lesson.py --flag`` keeps its flags),
    the figures it returns are displayed, and an error stops the cell with the same one line.
    """
    if _in_jupyter_kernel():
        _run_in_kernel(main, *args)
        return
    hide_machine_error_logs()  # the one line below says it; pymilvus and Lite would log a traceback first
    try:
        status = main(*args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        machine = resource_error(exc, _configured_uri())  # a full disk, a file the engine may not change
        if machine is None:
            raise
        print(f"error: {machine}", file=sys.stderr)
        sys.exit(2)
    sys.exit(status if isinstance(status, int) and not isinstance(status, bool) else 0)


def _configured_uri() -> str | None:
    try:
        return load_settings().milvus_uri
    except CourseError:
        return None


class CellStopped(Exception):
    """A lesson's error inside a notebook: IPython shows this one line instead of a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception that renders itself
        return [f"error: {self}"]


def _in_jupyter_kernel() -> bool:
    ipython = sys.modules.get("IPython")  # never imported here: a script that did not load IPython is no kernel
    shell = ipython.get_ipython() if ipython else None
    return getattr(shell, "kernel", None) is not None


def _run_in_kernel(main: Callable[..., object], *args) -> None:
    if not args:
        # `%run lesson.py --n 100` puts the lesson first in sys.argv; a notebook cell leaves the kernel's argv there
        script = main.__globals__.get("__file__") if hasattr(main, "__globals__") else None
        ran = bool(script and sys.argv) and Path(sys.argv[0]).resolve() == Path(script).resolve()
        args = (None,) if ran else ([],)
    try:
        result = main(*args)
    except CourseError as exc:
        raise CellStopped(str(exc)) from None
    except Exception as exc:
        machine = resource_error(exc, _configured_uri())
        if machine is None:
            raise
        raise CellStopped(machine) from None
    if result is not None:
        from IPython.display import display

        display(result)
