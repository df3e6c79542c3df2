# %% [markdown]
"""
Insert and search: the data path end to end, and what L2, IP and COSINE mean.

What you learn
  - batch insert, flush, index, load — in that order, and why;
  - search with output fields, measured: recall@10 against exact NumPy
    ground truth and latency p50/p95/p99 over many single queries;
  - query by expression, get by id, upsert, delete — each checked against
    what the data says the answer must be;
  - what happens to a batch with one bad row (wrong dimension, wrong type)
    sent through client.insert: which layer refuses it (pymilvus on the
    client, or the engine), what it says, and that nothing from the batch
    is stored — next to the course's own check, which names row and field;
  - L2 vs IP vs COSINE on a worked 2-d example: three different rankings,
    and why IP equals COSINE once vectors are normalised.

Prerequisites  03_schema_and_collections
Run            python step01_basics/04_insert_and_search.py [--uri URI] [--n 5000] [--dim 384] [--queries 100]
Docs           docs/step01_basics.md, section "04 삽입과 검색"
"""

# %%
from __future__ import annotations

import traceback

from common import cli, indexes
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset, normalize
from common.errors import BadInput
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, table
from common.rows import count_rows, drop_if_exists, search_ids, validate_rows

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

PREFIX = "s1_l4_"
ARTICLES = PREFIX + "articles"
CATEGORIES = ["science", "history", "sports", "travel", "food"]
K = 10
SEARCH_PARAMS = {"metric_type": "COSINE", "params": {"ef": 64}}  # must match the index's metric


# %% [markdown]
# ## Create, insert, index, load


# %%
# docs:begin create-insert
def create_articles(client, dim: int) -> None:
    """Our own primary keys (auto_id=False), so get/upsert/delete can name rows. No index yet."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="text", datatype=DataType.VARCHAR, max_length=512)
    schema.add_field(field_name="category", datatype=DataType.VARCHAR, max_length=32)
    schema.add_field(field_name="year", datatype=DataType.INT32)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    # Without index_params the collection is created but not indexed and not loaded:
    # we insert first and build the index once, over all rows.
    client.create_collection(collection_name=ARTICLES, schema=schema, consistency_level="Strong")


def insert_articles(client, rows: list[dict], batch: int) -> None:
    """Insert in batches (one gRPC message each; keep a message well under 64 MB), then flush once."""
    for start in range(0, len(rows), batch):
        client.insert(
            collection_name=ARTICLES,
            data=rows[start : start + batch],  # a list of dicts, one per row, keyed by field name
        )
    client.flush(collection_name=ARTICLES)  # seal segments: on a server only sealed segments get the index


# docs:end


# docs:begin index-load
def index_and_load(client, info) -> dict:
    """Build the vector index on the stored rows, load the collection; return the build params applied."""
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",
        # M links per node, efConstruction candidates while building. A server reads them as given;
        # Milvus Lite would drop them silently, so engine_build_params sends the form it reads (lesson 2.1)
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    client.create_index(
        collection_name=ARTICLES,
        index_params=index_params,  # one or more add_index() definitions
    )
    client.load_collection(
        collection_name=ARTICLES,  # search and query need a loaded collection (or partition)
    )
    described = client.describe_index(collection_name=ARTICLES, index_name="embedding")
    return indexes.reported_build_params(described)  # what the engine says it built with


# docs:end


# %% [markdown]
# ## Search with output fields


# %%
# docs:begin search
def search_example(client, query: list[float]) -> list[dict]:
    """Top-3 articles for one query vector, with two fields of each hit."""
    results = client.search(
        collection_name=ARTICLES,
        data=[query],  # one or more query vectors; one result list comes back per vector
        anns_field="embedding",  # the vector field to search (optional when there is only one)
        limit=3,  # top-k per query
        filter='category != "sports"',  # optional scalar filter, same syntax as query()
        search_params=SEARCH_PARAMS,  # metric + index knobs: HNSW's ef is its candidate list (ef >= limit)
        output_fields=["text", "category"],  # fields returned in hit["entity"]; the id and score always come
        consistency_level="Bounded",  # Strong waits for every earlier write; Bounded tolerates a short lag
    )
    return results[0]  # hits for the first query: [{"id": ..., "distance": ..., "entity": {...}}, ...]


# docs:end


# %% [markdown]
# ## The articles


# %%
def article_rows(vectors: np.ndarray, seed: int = 1) -> list[dict]:
    rng = np.random.default_rng(seed)
    categories = rng.choice(CATEGORIES, size=len(vectors))
    years = rng.integers(1990, 2025, size=len(vectors))
    return [
        {
            "id": i,
            "text": f"article {i} about {categories[i]} ({years[i]})",
            "category": str(categories[i]),
            "year": int(years[i]),
            "embedding": vectors[i].tolist(),
        }
        for i in range(len(vectors))
    ]


# %% [markdown]
# ## Query, get, upsert, delete


# %%
# docs:begin crud
def query_get_upsert_delete(client, rows: list[dict], new_vector: list[float]) -> dict:
    """Read by expression and by id, replace one row, delete by id and by expression."""
    matched = client.query(
        collection_name=ARTICLES, filter='category == "science" and year >= 2015', output_fields=["id"], limit=16384
    )  # a query needs a filter or a limit
    got = client.get(
        collection_name=ARTICLES,
        ids=[0, 1, 2],  # primary keys; missing ones are simply absent from the result
        output_fields=["text"],  # as in search/query
    )
    client.upsert(
        collection_name=ARTICLES,
        data=[dict(rows[42], text="article 42, rewritten", embedding=new_vector)],  # same id → replaced, not added
    )
    after_upsert = {
        "text": client.get(collection_name=ARTICLES, ids=[42], output_fields=["text"])[0]["text"],
        "rows": count_rows(client, ARTICLES),
        "top": client.search(collection_name=ARTICLES, data=[new_vector], limit=1)[0][0]["id"],
    }
    client.delete(
        collection_name=ARTICLES,
        ids=list(range(10)),  # delete by primary key ...
    )
    client.delete(collection_name=ARTICLES, filter="year < 1995")  # ... or by expression
    return {
        "matched": len(matched),
        "got": len(got),
        "after_upsert": after_upsert,
        "after_delete": count_rows(client, ARTICLES),
    }


# docs:end


def expected_crud(rows: list[dict]) -> dict:
    """What the data says each operation must give (computed from the rows, not from Milvus)."""
    return {
        "matched": sum(1 for r in rows if r["category"] == "science" and r["year"] >= 2015),
        "after_delete": sum(1 for r in rows if r["id"] >= 10 and r["year"] >= 1995),
    }


# %% [markdown]
# ## A batch with one bad row


# %%
def send_bad_batch(client, batch: list[dict]) -> dict:
    """Send a batch with one bad row through client.insert itself: who refuses it, what is said, what is stored."""
    before = count_rows(client, ARTICLES)
    try:
        with quiet_pymilvus():  # pymilvus logs a traceback for every failed call; we print the message instead
            client.insert(collection_name=ARTICLES, data=batch)
        refused_by, said = "nobody: accepted", ""
    except MilvusException as exc:
        refused_by, said = refusing_layer(exc), exc.message
    return {"refused by": refused_by, "Milvus said": said, "rows stored": count_rows(client, ARTICLES) - before}


def refusing_layer(exc: MilvusException) -> str:
    """pymilvus raises an engine's refusal in ``check_status`` (reading the reply); anything else never left it."""
    frames = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
    return "the engine (its reply)" if "check_status" in frames else "pymilvus, on the client (nothing sent)"


def course_check(client, batch: list[dict]) -> str:
    """The course's own check (common.rows.validate_rows): the row and field, before anything is sent."""
    try:
        validate_rows(client.describe_collection(ARTICLES), batch)
    except BadInput as exc:
        return exc.message
    return "passes (unexpected)"


def bad_input_demo(client, rows, dim: int) -> list[dict]:
    """Two batches of three good rows and one bad one, each sent to the engine as one insert call."""
    good = [dict(row, id=row["id"] + 1_000_000) for row in rows[:3]]
    cases = [
        ("wrong dimension", good + [dict(good[0], id=2_000_000, embedding=[0.1] * (dim - 1))]),
        ("wrong type", good + [dict(good[0], id=2_000_001, year="2020")]),
    ]
    outcomes = []
    for label, batch in cases:
        sent = send_bad_batch(client, batch)
        outcomes.append(
            {
                "case": label,
                "refused by": sent["refused by"],
                "Milvus said": sent["Milvus said"],
                "rows stored": sent["rows stored"],
                "course check": course_check(client, batch),
            }
        )
    return outcomes


# %% [markdown]
# ## L2 vs IP vs COSINE


# %%
def milvus_ranking(client, vectors: np.ndarray, query: np.ndarray, metric: str) -> tuple[list[int], dict]:
    """Rank ``vectors`` for ``query`` with an exact (FLAT) index under ``metric``."""
    name = f"{PREFIX}metric_{metric.lower()}"
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="v", datatype=DataType.FLOAT_VECTOR, dim=2)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="v", index_type="FLAT", metric_type=metric)  # FLAT = exact, brute force
    drop_if_exists(client, name)
    client.create_collection(collection_name=name, schema=schema, index_params=index_params, consistency_level="Strong")
    client.insert(collection_name=name, data=[{"id": i, "v": v.tolist()} for i, v in enumerate(vectors)])
    hits = client.search(collection_name=name, data=[query.tolist()], anns_field="v", limit=len(vectors))[0]
    client.drop_collection(name)
    return [hit["id"] for hit in hits], {hit["id"]: hit["distance"] for hit in hits}


def metric_example(client) -> dict:
    """Rank four 2-d documents for one query under each metric, in NumPy and in Milvus."""
    query = np.array([1.0, 1.0], dtype=np.float32)
    docs = np.array([[1, 1], [5, 4], [-1, 2], [2, -0.5]], dtype=np.float32)
    names = ["A (1,1)", "B (5,4)", "C (-1,2)", "D (2,-0.5)"]
    out, rows = {"rankings": {}, "scores": {}, "milvus_matches_numpy": True}, []
    for label, vectors, q in (("raw", docs, query), ("normalised", normalize(docs), normalize(query[None])[0])):
        for metric in ("L2", "IP", "COSINE"):
            ids, scores = milvus_ranking(client, vectors, q, metric)
            truth_ids, truth_scores = exact_topk(vectors, q[None], 4, metric)
            expected = dict(zip(truth_ids[0].tolist(), truth_scores[0].tolist()))
            agree = ids == truth_ids[0].tolist() and all(abs(scores[i] - expected[i]) < 1e-4 for i in ids)
            out["milvus_matches_numpy"] &= agree
            out["rankings"][f"{label} {metric}"] = [names[i][0] for i in ids]
            out["scores"][f"{label} {metric}"] = [round(scores[i], 4) for i in range(4)]
            rows.append(
                {
                    "vectors": label,
                    "metric": metric,
                    "ranking (best first)": " > ".join(names[i][0] for i in ids),
                    "scores A, B, C, D": ", ".join(f"{scores[i]:.3f}" for i in range(4)),
                    "matches NumPy": agree,
                }
            )
    table(rows)
    out["raw_rankings_differ"] = len({tuple(out["rankings"][f"raw {m}"]) for m in ("L2", "IP", "COSINE")}) == 3
    out["ip_equals_cosine_normalised"] = bool(
        np.allclose(out["scores"]["normalised IP"], out["scores"]["normalised COSINE"], atol=1e-4)
    )
    return out


# %% [markdown]
# ## The sections


# %%
def load_section(client, info, rows: list[dict], dim: int, batch: int) -> dict:
    heading("1. Insert in batches, flush, index, load")
    drop_if_exists(client, ARTICLES)
    create_articles(client, dim)
    with Stopwatch() as insert:
        insert_articles(client, rows, batch)
    with Stopwatch() as index:
        applied = index_and_load(client, info)
    built = ", ".join(f"{key}={value}" for key, value in applied.items()) or "the engine's defaults"
    table(
        [
            {
                "step": f"insert {len(rows)} rows, {batch} per call, then flush",
                "seconds": insert.seconds,
                "rows/s": len(rows) / insert.seconds,
            },
            {"step": f"create HNSW index ({built}) + load", "seconds": index.seconds, "rows/s": None},
        ]
    )
    stored = count_rows(client, ARTICLES)
    print(f"rows stored: {stored}; load state: {client.get_load_state(ARTICLES)['state'].name}")
    return {"stored": stored, "insert_s": insert.seconds, "index_s": index.seconds, "build_params": applied}


def search_section(client, info, data) -> dict:
    heading("2. Search: results, recall@10, latency")
    show_example(client, data.queries[0].tolist())
    truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
    recall = recall_at_k(search_ids(client, ARTICLES, data.queries, K, search_params=SEARCH_PARAMS), truth, K)
    print(f"recall@10 against NumPy exact top-10 ({len(data.queries)} queries, HNSW ef=64): {recall:.4f}")
    bounded, strong = consistency_latency(client, data.queries.tolist())
    print(
        "What Milvus guarantees: each row's insert, upsert or delete is atomic, but a batch is not a transaction\n"
        "(no multi-row rollback). Reads choose their consistency: Strong, Bounded (the default: may lag a few\n"
        "seconds), Session (sees this client's own writes) or Eventually."
    )
    if info.kind == "lite":
        print(
            "On Milvus Lite, per-query latency is mostly Lite's own overhead; compare index speed on a server (Step 2)."
        )
    return {"recall": recall, "bounded": bounded, "strong": strong}


def show_example(client, query: list[float]) -> None:
    example = search_example(client, query)
    table(
        [
            {
                "id": h["id"],
                "score (cosine)": h["distance"],
                "category": h["entity"]["category"],
                "text": h["entity"]["text"],
            }
            for h in example
        ]
    )


def consistency_latency(client, queries: list[list[float]]):
    """Serial single-query latency under Bounded and Strong consistency."""

    def search_one(consistency):
        return lambda q: client.search(
            collection_name=ARTICLES, data=[q], limit=K, search_params=SEARCH_PARAMS, consistency_level=consistency
        )

    bounded = time_calls(search_one("Bounded"), queries, warmup=5)
    strong = time_calls(search_one("Strong"), queries[: min(30, len(queries))], warmup=2)
    table(
        [
            {
                "consistency": label,
                "p50 ms": s.p50_ms,
                "p95 ms": s.p95_ms,
                "p99 ms": s.p99_ms,
                "QPS (serial, 1 query/call)": s.qps,
            }
            for label, s in (("Bounded (serving default)", bounded), ("Strong (sees every write)", strong))
        ]
    )
    print(
        f"Strong consistency waits until the engine has applied every earlier write: here it costs "
        f"{strong.p50_ms - bounded.p50_ms:.1f} ms at the median.\nOn a server that wait is up to one time tick "
        "(200 ms by default). Use Strong right after writing (as this lesson's\nchecks do), Bounded for serving "
        "traffic."
    )
    return bounded, strong


def crud_section(client, rows: list[dict], data, n: int) -> list[dict]:
    heading("3. Query, get, upsert, delete — each checked against the data")
    new_vector = data.queries[1].tolist()
    got = query_get_upsert_delete(client, rows, new_vector)
    expected = expected_crud(rows)
    checks = [
        {
            "operation": 'query `category == "science" and year >= 2015`',
            "got": got["matched"],
            "expected": expected["matched"],
        },
        {"operation": "get ids [0, 1, 2]", "got": got["got"], "expected": 3},
        {
            "operation": "upsert id 42: text is new",
            "got": got["after_upsert"]["text"],
            "expected": "article 42, rewritten",
        },
        {"operation": "upsert id 42: new vector is searchable", "got": got["after_upsert"]["top"], "expected": 42},
        {"operation": "rows right after the upsert (no duplicate)", "got": got["after_upsert"]["rows"], "expected": n},
        {
            "operation": "delete ids 0-9 and `year < 1995`",
            "got": got["after_delete"],
            "expected": expected["after_delete"],
        },
    ]
    table(checks)
    return checks


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(100, 2_000_000), default=5000, help="rows to insert (default 5000)")
    parser.add_argument("--dim", type=cli.DIM, default=384, help="vector dimension (default 384)")
    parser.add_argument(
        "--queries", type=cli.int_range(2, 100_000), default=100, help="queries for recall and latency (default 100)"
    )
    parser.add_argument(
        "--batch", type=cli.int_range(1, 100_000), default=1000, help="rows per insert call (default 1000)"
    )
    parser.add_argument("--seed", type=cli.SEED, default=7)
    args = parser.parse_args(argv)  # also refuses --n × --dim the machine's free memory cannot hold (common.cli)

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=40, spread=0.6, seed=args.seed)
    rows = article_rows(data.base, args.seed)
    with cli.engine(args.uri) as (client, info):
        loaded = load_section(client, info, rows, args.dim, args.batch)
        searched = search_section(client, info, data)
        checks = crud_section(client, rows, data, args.n)
        heading("4. A batch with one bad row, sent through client.insert")
        bad = bad_input_demo(client, rows, args.dim)
        table([dict(case, **{"Milvus said": case["Milvus said"][:70]}) for case in bad])
        stored = sum(case["rows stored"] for case in bad)
        print(
            f"Rows stored from the bad batches: {stored}. The course's own check names the row and the field "
            "before anything is sent."
        )
        heading("5. L2 vs IP vs COSINE: query (1,1) against four documents")
        metrics = metric_example(client)
        print(
            "Raw vectors: L2 favours nearby points, IP favours long vectors, COSINE only the angle.\n"
            "Normalised: IP == COSINE, and L2 = 2 - 2·cos gives the same ranking."
        )
        client.drop_collection(ARTICLES)

    latency = searched["bounded"]
    return {
        "headline": f"recall@10 {searched['recall']:.3f}; search p50 {latency.p50_ms:.2f} ms; "
        f"insert {args.n / loaded['insert_s']:,.0f} rows/s",
        "engine": info.kind,
        "rows_stored": loaded["stored"],
        "insert_rows_per_s": args.n / loaded["insert_s"],
        "index_s": loaded["index_s"],
        "build_params": loaded["build_params"],
        "recall_at_10": searched["recall"],
        "latency": latency.as_dict(),
        "latency_strong": searched["strong"].as_dict(),
        "checks": [{"operation": c["operation"], "ok": c["got"] == c["expected"]} for c in checks],
        "bad_input": bad,
        "metrics": metrics,
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
