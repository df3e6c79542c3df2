"""The figures in docs/img/: drawn here (HNSW layers, IVF cells) or made by the lessons themselves.

    python -m course.docs_figures            # draw the two diagrams (a second, no Milvus needed)

The lessons' own figures come from the run that writes the output blocks (python -m course.docs_output,
make docs-output): that run's lessons write their PNGs to a temporary reports folder, and
``copy_lesson_figures`` copies them into docs/img/ and records in docs/img/figures.json, per PNG, the run
id (the one in the block headers), the lesson and the file's SHA-256. So a figure always shows the same
run as the numbers next to it, and a test can tell when it does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

from common.config import REPO_ROOT
from common.report import new_figure

import numpy as np

IMG = REPO_ROOT / "docs" / "img"
SIDECAR = IMG / "figures.json"
LESSON_FIGURES = {
    "step02_core_features/01_index_comparison.py": "step02_index_comparison.png",
    "step02_core_features/02_search_tuning.py": "step02_search_tuning.png",
    "step03_use_cases/02_image_search.py": "step03_image_search.png",
    "step03_use_cases/05_anomaly_detection.py": "step03_anomaly_detection.png",
}


def save(fig, name: str) -> Path:
    IMG.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(IMG / name, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return IMG / name


def ivf_cells() -> Path:
    """k-means cells over 2-D points; a query scans only the nprobe nearest cells."""
    rng = np.random.default_rng(3)
    points = np.vstack([rng.normal(c, 0.6, size=(60, 2)) for c in rng.uniform(-5, 5, size=(8, 2))])
    centroids = points[rng.choice(len(points), 12, replace=False)]
    for _ in range(10):  # a few rounds of k-means
        cell = np.argmin(((points[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
        centroids = np.array([points[cell == c].mean(0) if np.any(cell == c) else centroids[c] for c in range(12)])
    query = np.array([0.5, 0.8])
    nearest = np.argsort(((centroids - query) ** 2).sum(-1))[:3]
    fig, ax = new_figure(6, 5)
    grid = np.stack(np.meshgrid(np.linspace(-8, 8, 300), np.linspace(-8, 8, 300)), -1).reshape(-1, 2)
    owner = np.argmin(((grid[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    ax.scatter(grid[:, 0], grid[:, 1], c=np.isin(owner, nearest), cmap="Pastel1_r", s=1, alpha=0.4)
    ax.scatter(points[:, 0], points[:, 1], c=cell, cmap="tab20", s=8)
    ax.scatter(centroids[:, 0], centroids[:, 1], marker="x", color="black", s=60, label="centroids (nlist = 12)")
    ax.scatter(*query, marker="*", color="red", s=250, label="query: scans the nprobe = 3 nearest cells (shaded)")
    ax.set(xlim=(-8, 8), ylim=(-8, 8), title="IVF: vectors grouped into nlist cells")
    ax.legend(loc="lower left", fontsize=8)
    return save(fig, "ivf_cells.png")


def hnsw_layers() -> Path:
    """Three layers of a navigable small-world graph: sparse on top, every point at the bottom."""
    rng = np.random.default_rng(5)
    points = rng.uniform(0, 10, size=(60, 2))
    levels = np.minimum(rng.geometric(0.45, size=len(points)) - 1, 2)  # most points live only on layer 0
    fig, axes = new_figure(12, 4, ncols=3)
    for layer, ax in zip((2, 1, 0), axes):
        members = np.flatnonzero(levels >= layer)
        for i in members:
            distances = ((points[members] - points[i]) ** 2).sum(-1)
            for j in members[np.argsort(distances)[1:4]]:  # link to the M = 3 nearest members of this layer
                ax.plot(*points[[i, j]].T, color="gray", linewidth=0.6)
        ax.scatter(*points[members].T, s=20, color="tab:blue")
        ax.set(xlim=(0, 10), ylim=(0, 10), xticks=[], yticks=[], title=f"layer {layer}: {len(members)} points")
    fig.suptitle(
        "HNSW: a search enters at the top layer, walks greedily to the nearest point, and goes down a layer; "
        "ef = how many candidates it keeps",
        fontsize=9,
    )
    return save(fig, "hnsw_layers.png")


def sidecar() -> dict:
    return json.loads(SIDECAR.read_text()) if SIDECAR.exists() else {}


def copy_lesson_figures(reports: Path, run_id: str, lessons: set[str]) -> list[Path]:
    """Copy the PNGs these lessons just wrote under ``reports`` into docs/img/, recording the run they came from."""
    made, record = [], sidecar()
    for lesson, png in LESSON_FIGURES.items():
        if lesson not in lessons:
            continue
        source = reports / png
        if not source.is_file():
            raise SystemExit(f"error: {lesson} wrote no {png} in this run; the figure in docs/img is left as it was")
        IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, IMG / png)
        record[png] = {"run": run_id, "lesson": lesson, "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
        made.append(IMG / png)
    if made:
        SIDECAR.write_text(json.dumps(dict(sorted(record.items())), indent=2) + "\n")
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diagrams", action="store_true", help="the two diagrams (the default; kept for old scripts)")
    parser.parse_args(argv)
    for path in (ivf_cells(), hnsw_layers()):
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    print("the lessons' figures are redrawn with the output blocks, in one run: make docs-output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
