"""Readable output: headings, aligned tables, JSON and PNG files under ``reports/``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from common.config import load_settings

import numpy as np


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 68 - len(title)))


def fmt(value) -> str:
    """Numbers to short, stable text: 0.9876, 1,234, 12.3, 1.2e-05."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.3g}"
        if magnitude >= 0.001:
            return f"{value:.4g}"
        return f"{value:.2e}"
    if value is None:
        return "-"
    return str(value)


def table(rows: Sequence[Mapping | Sequence], headers: Sequence[str] | None = None, out=print) -> str:
    """Print rows as an aligned text table and return it.

    ``rows`` are dicts (headers default to the first row's keys) or
    sequences (then pass ``headers``). Numbers are right-aligned.
    """
    if not rows:
        out("(no rows)")
        return "(no rows)"
    if isinstance(rows[0], Mapping):
        headers = list(headers or rows[0].keys())
        cells = [[row.get(h) for h in headers] for row in rows]
    else:
        headers = list(headers or [])
        cells = [list(row) for row in rows]
    numeric = [
        all(isinstance(r[i], (int, float, np.number)) or r[i] is None for r in cells) for i in range(len(headers))
    ]
    text = [[fmt(v) for v in row] for row in cells]
    widths = [max(len(str(h)), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]

    def line(values, align_numbers=True):
        return "  ".join(
            v.rjust(w) if (align_numbers and numeric[i]) else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))
        ).rstrip()

    lines = [line([str(h) for h in headers], align_numbers=False), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in text]
    rendered = "\n".join(lines)
    out(rendered)
    return rendered


def reports_dir() -> Path:
    path = load_settings().reports_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def save_json(name: str, data) -> Path:
    """Write ``data`` to ``reports/<name>.json`` (through a temporary file beside it) and return the path."""
    path = reports_dir() / f"{name}.json"
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n")
        os.replace(partial, path)  # a reader sees the old report or the new one, never half of one
    finally:
        partial.unlink(missing_ok=True)
    return path


def save_figure(fig, name: str) -> Path:
    """Save a matplotlib figure to ``reports/<name>.png`` and close it."""
    import matplotlib.pyplot as plt

    path = reports_dir() / f"{name}.png"
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fig.tight_layout()
    try:
        fig.savefig(partial, dpi=110, format="png")
        os.replace(partial, path)  # as in save_json: the old figure or the new one
    finally:
        partial.unlink(missing_ok=True)
        plt.close(fig)
    return path


def new_figure(width: float = 7, height: float = 4.5, ncols: int = 1):
    """A figure and axes (a tuple of ``ncols`` axes when > 1) on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(ncols=ncols, figsize=(width, height))
