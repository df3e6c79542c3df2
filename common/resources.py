"""The machine's limits, checked before a lesson spends them: memory, disk, folders it writes or removes.

- ``check_memory`` refuses a run whose vectors would not fit in the memory the machine has free
  (``MemAvailable``, or a smaller cgroup limit), before anything is allocated, with the flag to lower;
- ``check_folder_option`` refuses a folder option (``--dir``, ``REPORTS_DIR``) that names a file, a
  place under /proc or /sys, or a folder that cannot be written, before any work starts;
- ``remove_course_folder`` deletes only a folder whose every entry is one the course writes there,
  and refuses anything else with what it found (a learner's files are never deleted);
- ``resource_error`` turns a full disk or a file the engine may not change into one line
  (``cli.run`` uses it), whichever layer (the OS, NumPy, Milvus Lite, pymilvus) reported it.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from common.errors import BadInput, CourseError

GIB = 2**30
MEMORY_HEADROOM = 0.8  # use at most this share of the available memory (the engine and Python need the rest)


# Peak memory per vector value of a lesson that holds every row as a Python dict of lists (the rows it inserts),
# its NumPy data and ground truth, while Milvus Lite keeps its own copy in the same process: measured as
# ~104 bytes (peak RSS over a tiny run's) for lesson 1.4 at 5,000 × 4,096. A server keeps its copy elsewhere,
# so this overestimates there, on the safe side.
ROWS_AS_LISTS_BYTES_PER_VALUE = 110


class NotEnoughMemory(BadInput):
    """A run whose data would not fit in the memory the machine has free."""


class DiskFull(CourseError):
    """A write failed because the disk (or a quota, or a file-size limit) is full."""


def available_memory() -> int:
    """Bytes of memory this process may still use: MemAvailable, or the cgroup's limit left if smaller."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if available is None:  # not Linux: ask the OS for physical pages
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 1 << 62  # unknown: do not refuse
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available


def vector_bytes(rows: int, dim: int, bytes_per_value: float = 4) -> float:
    """Memory for ``rows`` vectors of ``dim`` values, ``bytes_per_value`` each (float32: 4)."""
    return float(rows) * dim * bytes_per_value


def check_memory(need: float, what: str, flags: str) -> float:
    """Raise ``NotEnoughMemory`` unless ``need`` bytes fit in the memory free now; return ``need``.

    ``what`` says what the bytes hold (``"5,000 × 32,768 vectors (data, rows sent, ground truth)"``),
    ``flags`` which options to lower (``"--n or --dim"``).
    """
    have = available_memory()
    if need > MEMORY_HEADROOM * have:
        raise NotEnoughMemory(
            f"this run needs about {need / GIB:.1f} GiB of memory for {what}, "
            f"and the machine has {have / GIB:.1f} GiB free",
            f"lower {flags} (memory grows with both), or free memory first",
        )
    if need > 2 * GIB:
        print(f"note: this run needs about {need / GIB:.1f} GiB of memory ({have / GIB:.1f} GiB free)")
    return need


def check_folder_option(path: Path, option: str) -> Path:
    """Raise ``BadInput`` unless ``path`` can be a folder this run writes into; return it absolute.

    Checked before the lesson works: a file where a folder is needed, a place under /proc or /sys,
    a parent that is a file, or a folder that cannot be written.
    """
    path = Path(path).expanduser().absolute()
    fix = f"point {option} at a folder you can write (it is created when missing)"
    if path.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise BadInput(f"{option}={path}: /{path.parts[1]} is the kernel's, not a place for files", fix)
    existing = next(p for p in [path, *path.parents] if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is inside {existing}, which is a file"
        raise BadInput(f"{option}={path} {where}, not a folder", fix)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"{option}={path}: {existing} cannot be written", fix)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise resource_error(exc) or BadInput(f"{option}={path}: {exc.strerror or exc}", fix) from None
    return path


def unexpected_entries(folder: Path, allowed: Iterable[str]) -> list[str]:
    """Entries of ``folder`` not named in ``allowed`` (sub-folders shown with a trailing /)."""
    allowed = set(allowed)
    return sorted(
        entry.name + ("/" if entry.is_dir() and not entry.is_symlink() else "")
        for entry in folder.iterdir()
        if entry.name not in allowed
    )


def remove_course_folder(folder: Path, allowed: Iterable[str], what: str) -> bool:
    """Delete ``folder`` if it holds nothing but entries named in ``allowed``; return whether it existed.

    Anything else there (a learner's file, a folder the course does not make), or a file or a
    symlink where the folder should be, is refused with what was found, and nothing is deleted.
    """
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return False
    if folder.is_symlink() or not folder.is_dir():
        kind = "a symlink" if folder.is_symlink() else "a file"
        raise CourseError(
            f"{folder} is {kind}, not {what}: left alone", "move it away yourself if it is not yours to keep"
        )
    extra = unexpected_entries(folder, allowed)
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise CourseError(
            f"{folder} is not {what} (it holds {shown}): nothing removed",
            "move those files away, or choose another folder",
        )
    shutil.rmtree(folder)
    return True


# ---------------------------------------------------------------------------------------------------------------------
# Errors from the machine, whatever layer reports them

_FULL = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded", errno.EFBIG: "File too large"}
_DENIED = {
    errno.EPERM: "Operation not permitted",
    errno.EROFS: "Read-only file system",
    errno.EACCES: "Permission denied",
}


def _errno_of(exc: BaseException) -> int | None:
    """The errno an exception carries, directly (OSError) or in its text (pymilvus wraps Lite's OSError)."""
    for current in (exc, exc.__cause__, exc.__context__):
        if isinstance(current, OSError) and current.errno:
            return current.errno
    text = str(getattr(exc, "message", "") or exc)
    if re.search(r"\d+ requested and \d+ written", text):  # NumPy's short write (tofile): the disk filled up
        return errno.ENOSPC
    for code, words in {**_FULL, **_DENIED}.items():
        if f"[Errno {code}]" in text or f"[errno {code}]" in text or words in text:
            return code
    return None


def resource_error(exc: BaseException, uri: str | None = None) -> CourseError | None:
    """One clear ``CourseError`` for a full disk or a file the engine may not change, else None.

    ``uri`` is the Milvus URI in use (a Lite database path names where the disk is full).
    """
    code = _errno_of(exc)
    if code is None:
        return None
    filename = getattr(exc, "filename", None)
    if code in _FULL:
        where = filename or (uri if uri and "://" not in uri else None)
        place = f" writing {where}" if where else ""
        folder = Path(where).parent if where else Path.cwd()
        return DiskFull(
            f"the disk is full ({_FULL[code]}){place}; what was being written is incomplete",
            f"free space there (df -h {folder}) or point MILVUS_URI / the lesson's folder option at another disk, "
            "then run the lesson again",
        )
    if code in _DENIED and uri and "://" not in uri and ("Milvus" in type(exc).__name__ or filename is None):
        return CourseError(
            f"Milvus Lite cannot change its files in {uri} ({_DENIED[code]}: {filename or _quoted(exc)})",
            f"a file there is read-only or immutable: find it with lsattr -R {uri} (then chattr -i FILE) "
            "or ls -lR, or set MILVUS_URI to another .db path",
        )
    if code in _DENIED and isinstance(exc, OSError) and filename:
        return CourseError(
            f"cannot write {filename} ({_DENIED[code]})",
            "make it writable (a file marked immutable needs chattr -i), or point the setting or option at "
            "another place",
        )
    return None


def _quoted(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc)
    start = text.find("'")
    end = text.find("'", start + 1)
    return text[start + 1 : end] if 0 <= start < end else "a file"


class _MachineErrorFilter:
    """Drops log records about a full disk or a forbidden file change: ``cli.run`` reports those in one line."""

    def filter(self, record) -> bool:
        text = record.getMessage()
        return not any(f"[Errno {code}]" in text or f"[errno {code}]" in text for code in (*_FULL, *_DENIED))


def hide_machine_error_logs() -> None:
    """Keep pymilvus' and Milvus Lite's tracebacks for a full disk or an immutable file off the screen."""
    import logging

    handlers = [logging.lastResort, *logging.getLogger().handlers, *logging.getLogger("pymilvus").handlers]
    for handler in handlers:
        if handler is not None and not any(isinstance(f, _MachineErrorFilter) for f in handler.filters):
            handler.addFilter(_MachineErrorFilter())
