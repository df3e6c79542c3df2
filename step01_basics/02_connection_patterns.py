# %% [markdown]
"""
Connection patterns: configure, fail fast, reuse one client, close it.

What you learn
  - where the URI and token come from (.env, then the environment, then the
    Milvus Lite default), and why the token never appears in a log line;
  - fail-fast connecting: a closed port fails in milliseconds, a port where
    nothing answers fails after the timeout you chose — not after minutes
    of pymilvus retries;
  - why a service creates one MilvusClient and reuses it (measured: one
    client vs a new client per request);
  - how the legacy ORM API (`connections.connect`, `Collection`) maps onto
    MilvusClient, which replaces it in pymilvus 3.

Prerequisites  01_environment_check
Run            python step01_basics/02_connection_patterns.py [--uri URI] [--requests N] [--timeout S]
Docs           docs/step01_basics.md, section "02 연결 패턴"
"""

# %%
from __future__ import annotations

import contextlib
import socket
import threading
import time

from common import cli
from common.config import is_lite_uri, load_settings, redact, resolve_uri, setting_source
from common.connection import HOW_TO_START, connect, precheck, quiet_pymilvus, short_reason
from common.errors import EngineUnavailable
from common.metrics import time_calls
from common.report import heading, table

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

# %% [markdown]
# ## Legacy ORM calls and their MilvusClient equivalents

# %%
LEGACY_TO_CLIENT = [
    ("connections.connect(alias, host=, port=)", "client = MilvusClient(uri=, token=, timeout=)"),
    ("connections.disconnect(alias)", "client.close()"),
    ("utility.has_collection(name)", "client.has_collection(name)"),
    ("Collection(name, schema).create()", "client.create_collection(name, schema=, index_params=)"),
    ("collection.insert(columns)", "client.insert(name, rows)"),
    ("collection.create_index(field, params)", "client.create_index(name, index_params)"),
    ("collection.load() / release()", "client.load_collection(name) / release_collection(name)"),
    (
        "collection.search(data, anns_field, param, limit)",
        "client.search(name, data, anns_field=, search_params=, limit=)",
    ),
    ("collection.query(expr)", "client.query(name, filter=, output_fields=)"),
    ("utility.drop_collection(name)", "client.drop_collection(name)"),
]


# %% [markdown]
# ## Connect and close


# %%
# docs:begin connect
def connect_and_close(uri: str, token: str, timeout: float) -> str:
    """The whole connection pattern: build one client, use it, close it."""
    precheck(uri, timeout)  # the course's fast check: is the port open / the Lite file free? (see below)
    client = MilvusClient(
        uri=uri,  # "http://host:19530" for a server, or a file path ("./milvus.db") for Milvus Lite
        token=token,  # "user:password" or an API key when auth is on; "" when it is off
        timeout=timeout,  # seconds a call may take before it fails; None waits as long as pymilvus retries
    )
    try:
        version = client.get_server_version()  # a real round trip: proves the server answers
        return f"server version {version}; {len(client.list_collections())} collections"
    finally:
        client.close()  # frees the gRPC channel; on Milvus Lite it also unlocks the .db file


# docs:end


# %% [markdown]
# ## Configuration: .env, then environment, then default


# %%
def show_configuration() -> dict:
    settings = load_settings()
    rows = [
        {"setting": "MILVUS_URI", "value": settings.milvus_uri, "from": setting_source("MILVUS_URI")},
        {"setting": "MILVUS_TOKEN", "value": redact(settings.milvus_token), "from": setting_source("MILVUS_TOKEN")},
        {
            "setting": "MILVUS_CONNECT_TIMEOUT",
            "value": f"{settings.connect_timeout:g} s",
            "from": setting_source("MILVUS_CONNECT_TIMEOUT"),
        },
    ]
    table(rows)
    return {row["setting"]: row["from"] for row in rows}


# %% [markdown]
# ## Fail fast: bounded connection attempts


# %%
@contextlib.contextmanager
def silent_listener():
    """A loopback port that accepts connections and never answers (a hung server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []

    def accept_forever():
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for conn in accepted:
            conn.close()


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def time_failure(uri: str, timeout: float) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        connect(uri, timeout=timeout).close()
    except EngineUnavailable as exc:
        return time.perf_counter() - start, exc.message
    raise AssertionError(f"{uri} unexpectedly answered as Milvus")


def fail_fast_demo(timeout: float) -> dict:
    closed_s, closed_msg = time_failure(f"http://127.0.0.1:{free_port()}", timeout)
    with silent_listener() as uri:
        silent_s, silent_msg = time_failure(uri, timeout)
    table(
        [
            {
                "case": "closed port (nothing listening)",
                "failed after": f"{closed_s * 1000:.0f} ms",
                "message": closed_msg,
            },
            {
                "case": "port open, server never answers",
                "failed after": f"{silent_s * 1000:.0f} ms",
                "message": silent_msg[:70] + "…",
            },
        ]
    )
    print(
        f"Both end with one message. The hung server costs exactly the timeout ({timeout:g} s): choose it on purpose."
    )
    return {"closed_port_s": closed_s, "silent_server_s": silent_s}


# %% [markdown]
# ## Reuse one client


# %%
def reuse_demo(uri: str, token: str, requests: int) -> dict:
    """The same request (list_collections) three ways.

    pymilvus 3 pools connections: a new ``MilvusClient`` with the same URI
    and token shares the existing gRPC channel. ``dedicated=True`` opens a
    channel of its own, which is what "connect per request" really costs.
    """

    def per_request(**kwargs):
        def call(_):
            client = MilvusClient(uri=uri, token=token, **kwargs)
            try:
                client.list_collections()
            finally:
                client.close()

        return call

    with quiet_pymilvus():
        shared = MilvusClient(uri=uri, token=token)
        try:
            reused = time_calls(lambda _: shared.list_collections(), range(requests), warmup=2)
            pooled = time_calls(per_request(), range(requests), warmup=1)
            dedicated = time_calls(per_request(dedicated=True), range(requests), warmup=1)
        finally:
            shared.close()
    rows = [
        ("one client, reused", reused),
        ("new client per request (pooled channel)", pooled),
        ("new connection per request (dedicated=True)", dedicated),
    ]
    table([{"pattern": name, "p50 ms": s.p50_ms, "p95 ms": s.p95_ms, "calls": s.calls} for name, s in rows])
    speedup = dedicated.p50_ms / reused.p50_ms
    print(
        f"A reused client is {speedup:.1f}× faster than a new connection per request at the median "
        "(serial calls, concurrency 1).\npymilvus hides part of the cost by pooling channels per URI+token; "
        "one client per process is still the pattern to copy."
    )
    return {
        "reuse_p50_ms": reused.p50_ms,
        "pooled_p50_ms": pooled.p50_ms,
        "reconnect_p50_ms": dedicated.p50_ms,
        "reuse_speedup": speedup,
    }


# %% [markdown]
# ## A pymilvus import-time behaviour


# %%
def import_time_note() -> None:
    """A pymilvus behaviour worth knowing before you copy a lesson into your own project."""
    print(
        "Note: pymilvus reads MILVUS_URI from the environment (and from a .env it finds) when it is *imported*,\n"
        "for its legacy `connections` API, and raises 'Illegal uri' if the value is a file path, as a Milvus Lite\n"
        "URI is. This course imports `common` first, which moves a Lite path out of MILVUS_URI before pymilvus\n"
        "loads. In your own code: keep a Lite path in a variable of your own (e.g. APP_MILVUS_URI) and pass it\n"
        "as MilvusClient(uri=...), or use MILVUS_URI only for server URIs."
    )


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument(
        "--requests", type=cli.int_range(1, 1_000_000), default=30, help="requests per pattern (default 30)"
    )
    parser.add_argument(
        "--timeout",
        type=cli.float_range(0.1, 300),
        default=2.0,
        help="connect timeout for the failure demo, s (default 2)",
    )
    args = parser.parse_args(argv)

    heading("1. Configuration: .env, then environment, then default")
    sources = show_configuration()

    heading("2. Connect and close")
    settings = load_settings()
    uri = resolve_uri(args.uri) if args.uri else settings.milvus_uri
    try:
        with quiet_pymilvus():
            outcome = connect_and_close(uri, settings.milvus_token, settings.connect_timeout)
    except MilvusException as exc:
        raise EngineUnavailable(f"Milvus at {uri} did not answer: {short_reason(exc)}", HOW_TO_START) from None
    print(
        f"MilvusClient(uri={uri!r}, token={redact(settings.milvus_token)!r}, "
        f"timeout={settings.connect_timeout:g}) → {outcome}"
    )
    print(
        "From lesson 1.3 on, `with cli.engine(args.uri) as (client, info):` does exactly this (precheck, "
        "MilvusClient,\n"
        "get_server_version, close at the end) and adds `info`: the engine's kind, version and capabilities."
    )
    import_time_note()

    heading("3. Fail fast: bounded connection attempts")
    failures = fail_fast_demo(args.timeout)

    heading("4. Reuse one client")
    reuse = reuse_demo(uri, settings.milvus_token, args.requests)

    heading("5. Legacy ORM API → MilvusClient")
    table([{"pymilvus ORM (deprecated in 3.x)": old, "MilvusClient": new} for old, new in LEGACY_TO_CLIENT])

    return {
        "headline": f"fail-fast {failures['closed_port_s'] * 1000:.0f} ms; reuse {reuse['reuse_speedup']:.1f}× faster",
        "engine": "lite" if is_lite_uri(uri) else "server",
        "config_sources": sources,
        **failures,
        **reuse,
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
