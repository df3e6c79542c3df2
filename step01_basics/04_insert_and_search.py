"""Insert and search: the data path end to end, and what L2, IP and COSINE mean.

What you learn
  - batch insert, flush, index, load — in that order, and why;
  - search with output fields, measured: recall@10 against exact NumPy
    ground truth and latency p50/p95/p99 over many single queries;
  - query by expression, get by id, upsert, delete — each checked against
    what the data says the answer must be;
  - how a bad row (wrong dimension, wrong type) is refused with the field
    named, and that nothing from its batch is stored;
  - L2 vs IP vs COSINE on a worked 2-d example: three different rankings,
    and why IP equals COSINE once vectors are normalised.

Prerequisites  03_schema_and_collections
Run            python step01_basics/04_insert_and_search.py [--uri URI] [--n 5000] [--dim 384] [--queries 100]
Docs           docs/step01_basics.md, section "04 삽입과 검색"
"""

from __future__ import annotations

from common import cli
from common.data import exact_topk, make_dataset, normalize
from common.errors import BadInput
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, table
from common.schemas import count_rows, drop_if_exists, insert_checked, recreate_collection, search_ids, vector_index

import numpy as np
from pymilvus import DataType, MilvusClient

PREFIX = "s1_l4_"
ARTICLES = PREFIX + "articles"
CATEGORIES = ["science", "history", "sports", "travel", "food"]
K = 10


def article_schema(dim: int):
    """Our own primary keys (auto_id=False), so get/upsert/delete can name rows."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=512)
    schema.add_field("category", DataType.VARCHAR, max_length=32)
    schema.add_field("year", DataType.INT32)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def article_rows(vectors: np.ndarray, seed: int = 1) -> list[dict]:
    rng = np.random.default_rng(seed)
    categories = rng.choice(CATEGORIES, size=len(vectors))
    years = rng.integers(1990, 2025, size=len(vectors))
    return [
        {"id": i, "text": f"article {i} about {categories[i]} ({years[i]})", "category": str(categories[i]),
         "year": int(years[i]), "embedding": vectors[i].tolist()}
        for i in range(len(vectors))
    ]


def insert_in_batches(client, rows, batch: int) -> float:
    with Stopwatch() as sw:
        for start in range(0, len(rows), batch):
            insert_checked(client, ARTICLES, rows[start : start + batch])
    return sw.seconds


def bad_input_demo(client, rows, dim: int) -> list[dict]:
    """Two bad batches: each is refused whole, with the row and field named."""
    before = count_rows(client, ARTICLES)
    good = [dict(row, id=row["id"] + 1_000_000) for row in rows[:3]]
    cases = [
        ("wrong dimension", good + [dict(good[0], id=2_000_000, embedding=[0.1] * (dim - 1))]),
        ("wrong type", good + [dict(good[0], id=2_000_001, year="2020")]),
    ]
    outcomes = []
    for label, batch in cases:
        try:
            insert_checked(client, ARTICLES, batch)
            message = "accepted (unexpected)"
        except BadInput as exc:
            message = exc.message
        outcomes.append({"case": label, "error": message, "rows stored": count_rows(client, ARTICLES) - before})
    return outcomes


def metric_example(client) -> dict:
    """Rank four 2-d documents for one query under each metric, in NumPy and in Milvus."""
    query = np.array([1.0, 1.0], dtype=np.float32)
    docs = np.array([[1, 1], [5, 4], [-1, 2], [2, -0.5]], dtype=np.float32)
    names = ["A (1,1)", "B (5,4)", "C (-1,2)", "D (2,-0.5)"]
    out = {"rankings": {}, "milvus_matches_numpy": True}

    def milvus_scores(vectors, q, metric):
        name = f"{PREFIX}metric_{metric.lower()}"
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        recreate_collection(client, name, schema, vector_index("v", "FLAT", metric))
        client.insert(name, [{"id": i, "v": v.tolist()} for i, v in enumerate(vectors)])
        hits = client.search(name, [q.tolist()], anns_field="v", limit=len(vectors))[0]
        client.drop_collection(name)
        return [hit["id"] for hit in hits], {hit["id"]: hit["distance"] for hit in hits}

    rows = []
    for label, vectors, q in (("raw", docs, query), ("normalised", normalize(docs), normalize(query[None])[0])):
        for metric in ("L2", "IP", "COSINE"):
            ids, scores = milvus_scores(vectors, q, metric)
            truth_ids, truth_scores = exact_topk(vectors, q[None], 4, metric)
            expected = dict(zip(truth_ids[0].tolist(), truth_scores[0].tolist()))
            agree = ids == truth_ids[0].tolist() and all(abs(scores[i] - expected[i]) < 1e-4 for i in ids)
            out["milvus_matches_numpy"] &= agree
            out["rankings"][f"{label} {metric}"] = [names[i][0] for i in ids]
            out.setdefault("scores", {})[f"{label} {metric}"] = [round(scores[i], 4) for i in range(4)]
            rows.append({"vectors": label, "metric": metric, "ranking (best first)": " > ".join(names[i][0] for i in ids),
                         "scores A, B, C, D": ", ".join(f"{scores[i]:.3f}" for i in range(4)), "matches NumPy": agree})
    table(rows)
    out["raw_rankings_differ"] = len({tuple(out["rankings"][f"raw {m}"]) for m in ("L2", "IP", "COSINE")}) == 3
    out["ip_equals_cosine_normalised"] = bool(np.allclose(out["scores"]["normalised IP"], out["scores"]["normalised COSINE"], atol=1e-4))
    return out


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=int, default=5000, help="rows to insert (default 5000)")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    parser.add_argument("--queries", type=int, default=100, help="queries for recall and latency (default 100)")
    parser.add_argument("--batch", type=int, default=1000, help="rows per insert call (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=40, spread=0.6, seed=args.seed)
    rows = article_rows(data.base, args.seed)

    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, ARTICLES)

        heading("1. Insert in batches, flush, index, load")
        recreate_collection(client, ARTICLES, article_schema(args.dim))  # no index yet: nothing is loaded
        insert_s = insert_in_batches(client, rows, args.batch)
        with Stopwatch() as flush_time:
            client.flush(ARTICLES)  # seal the segments: on a server, only sealed segments get an index
        with Stopwatch() as index_time:
            client.create_index(ARTICLES, vector_index("embedding", "HNSW", "COSINE", M=16, efConstruction=128))
        with Stopwatch() as load_time:
            client.load_collection(ARTICLES)
        table([
            {"step": f"insert {args.n} rows, {args.batch} per call", "seconds": insert_s, "rows/s": args.n / insert_s},
            {"step": "flush", "seconds": flush_time.seconds, "rows/s": None},
            {"step": "create HNSW index (M=16, efConstruction=128)", "seconds": index_time.seconds, "rows/s": None},
            {"step": "load into memory", "seconds": load_time.seconds, "rows/s": None},
        ])
        stored = count_rows(client, ARTICLES)
        print(f"rows stored: {stored}; load state: {client.get_load_state(ARTICLES)['state'].name}")

        heading("2. Search: results, recall@10, latency")
        params = {"metric_type": "COSINE", "params": {"ef": 64}}
        example = client.search(ARTICLES, [data.queries[0].tolist()], limit=3, search_params=params,
                                output_fields=["text", "category"])[0]
        table([{"id": h["id"], "score (cosine)": h["distance"], "text": h["entity"]["text"]} for h in example])
        truth, _ = exact_topk(data.base, data.queries, K, "COSINE")
        recall = recall_at_k(search_ids(client, ARTICLES, data.queries, K, search_params=params), truth, K)
        def search_one(consistency):
            return lambda q: client.search(ARTICLES, [q], limit=K, search_params=params, consistency_level=consistency)

        queries = data.queries.tolist()
        latency = time_calls(search_one("Bounded"), queries, warmup=5)
        strong = time_calls(search_one("Strong"), queries[: min(30, len(queries))], warmup=2)
        print(f"recall@10 against NumPy exact top-10 ({args.queries} queries, HNSW ef=64): {recall:.4f}")
        table([
            {"consistency": "Bounded (serving default)", "p50 ms": latency.p50_ms, "p95 ms": latency.p95_ms,
             "p99 ms": latency.p99_ms, "QPS (serial, 1 query/call)": latency.qps},
            {"consistency": "Strong (sees every write)", "p50 ms": strong.p50_ms, "p95 ms": strong.p95_ms,
             "p99 ms": strong.p99_ms, "QPS (serial, 1 query/call)": strong.qps},
        ])
        print(f"Strong consistency waits until the engine has applied every earlier write: here it costs "
              f"{strong.p50_ms - latency.p50_ms:.1f} ms at the median.\nOn a server that wait is up to one time tick "
              "(200 ms by default). Use Strong right after writing (as this lesson's\nchecks do), Bounded for serving traffic.")
        if info.kind == "lite":
            print("On Milvus Lite, per-query latency is mostly Lite's own overhead; compare index speed on a server (Step 2).")

        heading("3. Query, get, upsert, delete — each checked against the data")
        expr = 'category == "science" and year >= 2015'
        matched = client.query(ARTICLES, filter=expr, output_fields=["id"], limit=16384)
        expected = sum(1 for r in rows if r["category"] == "science" and r["year"] >= 2015)
        got = client.get(ARTICLES, ids=[0, 1, 2], output_fields=["text"])
        new_text = "article 42, rewritten"
        client.upsert(ARTICLES, [dict(rows[42], text=new_text, embedding=data.queries[1].tolist())])
        after_upsert = client.get(ARTICLES, ids=[42], output_fields=["text"])[0]["text"]
        top_after_upsert = client.search(ARTICLES, [data.queries[1].tolist()], limit=1, search_params=params)[0][0]["id"]
        client.delete(ARTICLES, ids=list(range(10)))
        client.delete(ARTICLES, filter="year < 1995")
        expected_after_delete = sum(1 for r in rows if r["id"] >= 10 and r["year"] >= 1995)
        after_delete = count_rows(client, ARTICLES)
        checks = [
            {"operation": f"query `{expr}`", "got": len(matched), "expected": expected},
            {"operation": "get ids [0, 1, 2]", "got": len(got), "expected": 3},
            {"operation": "upsert id 42: text is new", "got": after_upsert == new_text, "expected": True},
            {"operation": "upsert id 42: new vector is searchable", "got": top_after_upsert == 42, "expected": True},
            {"operation": "rows after upsert (no duplicate)", "got": stored, "expected": args.n},
            {"operation": "delete ids 0-9 and `year < 1995`", "got": after_delete, "expected": expected_after_delete},
        ]
        table(checks)

        heading("4. Bad input is refused whole")
        bad = bad_input_demo(client, rows, args.dim)
        table(bad)

        heading("5. L2 vs IP vs COSINE: query (1,1) against four documents")
        metrics = metric_example(client)
        print("Raw vectors: L2 favours nearby points, IP favours long vectors, COSINE only the angle.\n"
              "Normalised: IP == COSINE, and L2 = 2 - 2·cos gives the same ranking.")
        client.drop_collection(ARTICLES)

    return {
        "headline": f"recall@10 {recall:.3f}; search p50 {latency.p50_ms:.2f} ms; insert {args.n / insert_s:,.0f} rows/s",
        "engine": info.kind,
        "rows_stored": stored,
        "insert_rows_per_s": args.n / insert_s,
        "index_s": index_time.seconds,
        "recall_at_10": recall,
        "latency": latency.as_dict(),
        "latency_strong": strong.as_dict(),
        "checks": [{"operation": c["operation"], "ok": c["got"] == c["expected"]} for c in checks],
        "bad_input": bad,
        "metrics": metrics,
        "skipped": [],
    }


if __name__ == "__main__":
    cli.run(main)
