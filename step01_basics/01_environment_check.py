# %% [markdown]
"""
Environment check: Python, packages, Docker, and the Milvus engine you will use.

What you learn
  - which Python and package versions the course runs on, and how to spot a wrong one;
  - whether a Docker engine is available (only needed for `docker compose`);
  - which Milvus engine MILVUS_URI points at, its version, and what it can do
    (every later lesson branches on this capability set);
  - how long one round trip to the engine takes (p50/p95 over many calls).

Prerequisites  none: `make run` installs everything; Milvus Lite needs no server.
Run            python step01_basics/01_environment_check.py [--uri URI] [--pings N]
Docs           docs/step01_basics.md, section "01 환경 점검"
"""

# %%
from __future__ import annotations

import platform
import sys
import time
from importlib import metadata

from common import cli
from common.metrics import Stopwatch, time_calls
from common.report import heading, table

PACKAGES = ["pymilvus", "milvus-lite", "numpy", "python-dotenv", "docker", "matplotlib"]
MIN_PYTHON = (3, 10)


# %% [markdown]
# ## Python and packages


# %%
def check_python() -> dict:
    ok = sys.version_info >= MIN_PYTHON
    return {
        "check": "python",
        "value": platform.python_version(),
        "ok": ok,
        "note": "" if ok else f"needs Python {'.'.join(map(str, MIN_PYTHON))}+",
    }


def check_packages() -> list[dict]:
    rows = []
    for name in PACKAGES:
        try:
            rows.append({"check": name, "value": metadata.version(name), "ok": True, "note": ""})
        except metadata.PackageNotFoundError:
            rows.append(
                {
                    "check": name,
                    "value": "missing",
                    "ok": False,
                    "note": "run `make venv` (pip install -r requirements.txt)",
                }
            )
    return rows


# %% [markdown]
# ## Docker (optional)


# %%
def check_docker() -> dict:
    """Ask the Docker engine for its version through the docker SDK.

    Docker is optional: Milvus Lite and the embedded server need none. A
    missing client, a stopped daemon or a socket without permission each get
    their own explanation instead of a stack trace.
    """
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return {"check": "docker engine", "value": "sdk missing", "ok": False, "note": "pip install docker"}
    try:
        client = docker.from_env(timeout=3)
        version = client.version()
        client.close()
        return {
            "check": "docker engine",
            "value": version.get("Version", "?"),
            "ok": True,
            "note": "docker compose up -d will work",
        }
    except DockerException as exc:
        text = str(exc)
        if "Permission denied" in text:
            note = "the daemon runs but this user may not use it: add the user to the docker group"
        else:
            note = (
                "not running or not installed: start Docker Desktop / `sudo systemctl start docker`, "
                "or use Milvus Lite (the default)"
            )
        return {"check": "docker engine", "value": "unavailable", "ok": False, "note": note}


# %% [markdown]
# ## The Milvus engine and what it can do


# %%
def print_engine(info, connect_ms: float, pings) -> None:
    table(
        [
            {"property": "engine", "value": info.label},
            {"property": "raw version string", "value": info.raw_version},
            {"property": "connect + version check", "value": f"{connect_ms:.1f} ms"},
            {
                "property": f"round trip p50 / p95 ({pings.calls} calls, serial)",
                "value": f"{pings.p50_ms:.2f} / {pings.p95_ms:.2f} ms",
            },
            {"property": "vector indexes", "value": ", ".join(info.vector_indexes)},
            {"property": "scalar indexes", "value": ", ".join(info.scalar_indexes)},
        ]
    )


def print_capabilities(info) -> list[str]:
    """Print what later lessons may use; return the capabilities not verified on this machine."""
    heading("Capabilities (what later lessons may use)")
    unverified = sorted(c for c in info.capabilities if not info.verified(c))
    print(", ".join(f"{c}*" if c in unverified else c for c in sorted(info.capabilities)))
    if unverified:
        print(
            f"* not verified on this machine (from the release notes of {info.label.split(' (')[0]}): "
            f"{', '.join(unverified)}"
        )
    return unverified


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--pings", type=cli.int_range(1, 100_000), default=50, help="round trips to time (default 50)")
    args = parser.parse_args(argv)

    heading("Python and packages")
    local = [check_python(), *check_packages()]
    table(local)
    docker_row = check_docker()
    heading("Docker (optional)")
    table([docker_row])

    heading("Milvus engine")
    start = time.perf_counter()
    # docs:begin engine
    # cli.engine() is the course's way to connect: it checks the URI answers (within seconds, not
    # minutes), builds a MilvusClient (lesson 1.2 shows how), detects the engine, and closes the client.
    with cli.engine(args.uri) as (client, info):
        connect_ms = (time.perf_counter() - start) * 1000  # connect + version check
        with Stopwatch() as first:
            client.list_collections()  # the cheapest real request: one round trip
        pings = time_calls(lambda _: client.list_collections(), range(args.pings))
    print(f"{info.label}: vector indexes {info.vector_indexes}")
    # docs:end
    print_engine(info, connect_ms, pings)
    unverified = print_capabilities(info)

    problems = [row["check"] for row in local if not row["ok"]]
    if problems:
        print(f"\nproblems: {', '.join(problems)} — see the notes above")
    return {
        "headline": f"{info.label}; round trip p50 {pings.p50_ms:.2f} ms; docker: {docker_row['value']}",
        "engine": info.kind,
        "version": info.raw_version,
        "capabilities": sorted(info.capabilities),
        "unverified_capabilities": unverified,
        "assumed": info.assumed,
        "vector_indexes": list(info.vector_indexes),
        "python_ok": local[0]["ok"],
        "packages_ok": not problems,
        "docker_available": docker_row["ok"],
        "connect_ms": connect_ms,
        "first_call_ms": first.seconds * 1000,
        "ping": pings.as_dict(),
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
