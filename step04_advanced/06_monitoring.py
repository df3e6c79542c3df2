# %% [markdown]
"""
Monitoring: the application's own metrics, the server's /metrics, and a health check that says why.

What you learn
  - instrumenting a search service with prometheus-client: a latency
    histogram, a request counter and an error counter, served on /metrics
    while a workload runs — then scraped back and read, as Prometheus would;
  - on a server, reading Milvus' own health (`:9091/healthz`) and metrics
    (`:9091/metrics`): request counts and search latency series;
  - a health check that reports *what* is wrong (port closed, health
    endpoint failing, collection not loaded), not just "down".

Prerequisites  Step 1
Run            python step04_advanced/06_monitoring.py [--requests 200]
Docs           docs/step04_advanced.md, section "06 모니터링"
"""

# %%
from __future__ import annotations

import time
import urllib.request
from urllib.parse import urlparse

from common import cli, indexes
from common.config import load_settings, resolve_uri
from common.connection import quiet_pymilvus
from common.data import make_dataset
from common.errors import CourseError
from common.metrics import time_calls
from common.report import heading, table
from common.rows import count_rows, drop_if_exists, vector_rows

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s4_l6_"
COLLECTION = PREFIX + "docs"
K = 10
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Sample names as the Python parser reports them (counters get a _total suffix).
MILVUS_SERIES = (
    "milvus_proxy_req_count_total",
    "milvus_proxy_search_vectors_count_total",
    "milvus_proxy_sq_latency_count",
    "milvus_proxy_sq_latency_sum",
    "milvus_querynode_sq_core_latency_count",
)


# %% [markdown]
# ## The app's metrics


# %%
# docs:begin metrics
class SearchMetrics:
    """The three series every search service should export."""

    def __init__(self, registry: CollectorRegistry):
        self.latency = Histogram(
            "course_search_latency_seconds", "Search latency", ["collection"], buckets=BUCKETS, registry=registry
        )
        self.requests = Counter("course_search_requests", "Search requests", ["collection"], registry=registry)
        self.errors = Counter("course_search_errors", "Failed searches", ["collection", "reason"], registry=registry)

    def search(self, client, collection: str, query, **kwargs):
        self.requests.labels(collection).inc()
        with self.latency.labels(collection).time():
            try:
                return client.search(collection_name=collection, data=[query], limit=K, **kwargs)
            except MilvusException as exc:
                self.errors.labels(collection, f"code_{exc.code}").inc()
                return None


# docs:end


# %% [markdown]
# ## Serve and scrape


# %%
def serve_metrics(registry, port: int):
    """prometheus-client's HTTP exporter on 127.0.0.1:``port`` (0: any free port); returns (server, thread, port)."""
    try:
        server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise CourseError(
            f"cannot serve the app's metrics on 127.0.0.1:{port}: {exc.strerror or exc}",
            "stop what uses the port, or pass --metrics-port 0 (any free port) or set APP_METRICS_PORT",
        ) from None
    return server, thread, server.server_address[1]


def scrape(url: str) -> dict:
    """Fetch a /metrics page and index its samples by name."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def quantile_from_buckets(buckets: list, q: float) -> float:
    """The upper bound of the first histogram bucket holding quantile q (what histogram_quantile approximates)."""
    pairs = sorted((float(s.labels["le"]), s.value) for s in buckets)
    total = pairs[-1][1]
    return next(le for le, count in pairs if count >= q * total)


# %% [markdown]
# ## Milvus' own health endpoint


# %%
def healthz(uri: str) -> dict:
    host = urlparse(uri).hostname
    try:
        with urllib.request.urlopen(f"http://{host}:9091/healthz", timeout=3) as response:
            body = response.read().decode().strip()
        return {
            "check": f"http://{host}:9091/healthz",
            "result": body,
            "fix": "" if body == "OK" else "see the server log",
        }
    except OSError as exc:
        return {
            "check": f"http://{host}:9091/healthz",
            "result": f"unreachable ({exc})",
            "fix": "the metrics port 9091 is closed or the server is not ready",
        }


# %% [markdown]
# ## A health check that says what is wrong


# %%
# docs:begin health
def health_report(client, uri: str, info, expect: dict) -> list[dict]:
    """Each check with its result and, when it fails, what to do. ``expect``: collection, rows, probe, max_p95_ms."""
    name = expect["collection"]
    checks = [healthz(uri)] if info.kind == "server" else []
    checks.append({"check": "server version", "result": client.get_server_version(), "fix": ""})
    state = client.get_load_state(collection_name=name)["state"].name
    checks.append(
        {"check": "loaded", "result": state, "fix": "" if state == "Loaded" else f"client.load_collection('{name}')"}
    )
    indexes = client.list_indexes(collection_name=name)
    index = client.describe_index(collection_name=name, index_name=indexes[0]) if indexes else {}
    pending = index.get("pending_index_rows", 0)  # servers report build progress; Milvus Lite builds at once
    checks.append(
        {
            "check": "vector index built",
            "result": f"{index.get('index_type')}, {pending} rows pending" if index else "no index",
            "fix": ""
            if index and not pending
            else "create_index(...), then wait until describe_index(...)['pending_index_rows'] is 0",
        }
    )
    if state != "Loaded":
        return checks  # the next checks need a loaded collection
    rows = count_rows(client, name)
    checks.append(
        {
            "check": "row count",
            "result": f"{rows} (expected {expect['rows']})",
            "fix": "" if rows == expect["rows"] else "rows were lost or duplicated: compare with the source",
        }
    )
    probe = time_calls(
        lambda q: client.search(
            collection_name=name, data=[q], limit=10, consistency_level="Bounded"
        ),  # serving latency, no wait for a time tick
        [expect["probe"]] * 20,
        warmup=2,
    )
    checks.append(
        {
            "check": f"probe search p95 ≤ {expect['max_p95_ms']:g} ms",
            "result": f"{probe.p95_ms:.2f} ms",
            "fix": "" if probe.p95_ms <= expect["max_p95_ms"] else "slow: see docs/troubleshooting.md, 검색이 느림",
        }
    )
    return checks


# docs:end


def failing(report: list[dict]) -> list[str]:
    return [row["check"] for row in report if row["fix"]]


def health_section(client, uri: str, info, data, n: int) -> dict:
    """A healthy collection, then four faults made on purpose: each must be named by the check."""
    heading("3. A health check that says what is wrong")
    expect = {"collection": COLLECTION, "rows": n, "probe": data.base[0].tolist(), "max_p95_ms": 250.0}
    reports = {"healthy": health_report(client, uri, info, expect)}
    reports["threshold 0.001 ms"] = health_report(client, uri, info, {**expect, "max_p95_ms": 0.001})
    client.delete(collection_name=COLLECTION, ids=[1, 2, 3])
    reports["3 rows deleted"] = health_report(client, uri, info, expect)
    client.release_collection(collection_name=COLLECTION)
    reports["released"] = health_report(client, uri, info, expect)
    client.drop_index(collection_name=COLLECTION, index_name="embedding")
    reports["index dropped"] = health_report(client, uri, info, expect)
    table(
        [
            {"state": state, **row}
            for state, report in reports.items()
            for row in report
            if row["fix"] or state == "healthy"
        ]
    )
    return {state: failing(report) for state, report in reports.items()}


# %% [markdown]
# ## The sections


# %%
def create_collection(client, info, vectors: np.ndarray) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    drop_if_exists(client, COLLECTION)
    client.create_collection(
        collection_name=COLLECTION, schema=schema, index_params=index_params, consistency_level="Strong"
    )
    client.insert(collection_name=COLLECTION, data=vector_rows(vectors, id=range(len(vectors))))
    client.flush(collection_name=COLLECTION)
    deadline = time.monotonic() + 120  # a server indexes sealed segments in the background: wait, bounded
    while client.describe_index(collection_name=COLLECTION, index_name="embedding").get("pending_index_rows", 0):
        if time.monotonic() > deadline:
            raise CourseError(
                "the index build did not finish within 120 s", "see docs/troubleshooting.md (OOM while indexing)"
            )
        time.sleep(0.5)


def app_metrics_section(client, metrics, data, port: int, requests: int, seed: int) -> dict:
    heading(f"1. The app's metrics on http://127.0.0.1:{port}/metrics")
    rng = np.random.default_rng(seed)
    with quiet_pymilvus():
        for i in range(requests):
            if i % 50 == 49:  # a few bad requests, so the error counter has something to count
                metrics.search(client, PREFIX + "missing", data.queries[0].tolist())
            else:
                metrics.search(
                    client,
                    COLLECTION,
                    data.queries[rng.integers(len(data.queries))].tolist(),
                    consistency_level="Bounded",
                )
    samples = scrape(f"http://127.0.0.1:{port}/metrics")

    def total(name: str) -> float:  # summed over label values (collections, reasons)
        return sum(sample.value for sample in samples.get(name, []))

    out = {
        "requests": total("course_search_requests_total"),
        "histogram_count": total("course_search_latency_seconds_count"),
        "errors": total("course_search_errors_total"),
    }
    out["mean_ms"] = 1000 * total("course_search_latency_seconds_sum") / out["histogram_count"]
    out["p95_bucket_ms"] = 1000 * quantile_from_buckets(
        [b for b in samples["course_search_latency_seconds_bucket"] if b.labels["collection"] == COLLECTION], 0.95
    )
    table(
        [
            {"series": "course_search_requests_total", "value": out["requests"]},
            {"series": "course_search_latency_seconds_count", "value": out["histogram_count"]},
            {"series": "mean latency (sum / count), ms", "value": out["mean_ms"]},
            {"series": f"p95 of {COLLECTION} from histogram buckets (upper bound), ms", "value": out["p95_bucket_ms"]},
            {"series": "course_search_errors_total", "value": out["errors"]},
        ]
    )
    print("PromQL for a dashboard: histogram_quantile(0.95, rate(course_search_latency_seconds_bucket[5m]))")
    return out


def server_metrics_section(info, uri: str) -> dict:
    heading("2. Milvus' own health and metrics (:9091)")
    if not info.has("metrics_endpoint"):
        print(info.skip_reason("metrics_endpoint"))
        return {}
    milvus = scrape(f"http://{urlparse(uri).hostname}:9091/metrics")
    found = {name: sum(s.value for s in milvus.get(name, [])) for name in MILVUS_SERIES if name in milvus}
    table([{"series": k, "sum over labels": v} for k, v in found.items()])
    if found.get("milvus_proxy_sq_latency_count"):
        mean = found["milvus_proxy_sq_latency_sum"] / found["milvus_proxy_sq_latency_count"]
        print(f"server-side mean search latency since start: {mean:.2f} ms (milvus_proxy_sq_latency, in ms)")
    print(f"{len(milvus)} sample names exposed on :9091/metrics")
    return {"series": len(milvus), "found": found}


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.ROWS, default=5000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument("--requests", type=cli.int_range(50, 1_000_000), default=200)
    parser.add_argument("--seed", type=cli.SEED, default=10)
    parser.add_argument(
        "--metrics-port",
        type=cli.int_range(0, 65535),
        default=None,
        help="port of the app's /metrics (default APP_METRICS_PORT, 8000, which monitoring/prometheus.yml "
        "scrapes; 0 = any free port)",
    )
    args = parser.parse_args(argv)

    data = make_dataset(args.n, args.dim, 50, n_clusters=30, spread=1.0, seed=args.seed)
    uri = resolve_uri(args.uri) if args.uri else load_settings().milvus_uri
    registry = CollectorRegistry()
    metrics = SearchMetrics(registry)
    port = args.metrics_port if args.metrics_port is not None else load_settings().app_metrics_port
    server, thread, port = serve_metrics(registry, port)
    try:
        with cli.engine(args.uri) as (client, info):
            create_collection(client, info, data.base)
            app = app_metrics_section(client, metrics, data, port, args.requests, args.seed)
            server_metrics = server_metrics_section(info, uri)
            health = health_section(client, uri, info, data, args.n)
            drop_if_exists(client, COLLECTION)
    finally:
        server.shutdown()
        thread.join(timeout=5)

    skipped = [] if info.has("metrics_endpoint") else [f"server metrics: {info.skip_reason('metrics_endpoint')}"]
    return {
        "headline": f"{int(app['histogram_count'])} searches exported, {int(app['errors'])} errors; "
        f"p95 ≤ {app['p95_bucket_ms']:.1f} ms",
        "engine": info.kind,
        **app,
        "server_metrics": server_metrics,
        "health": health,
        "skipped": skipped,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
