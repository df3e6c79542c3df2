"""Partitions: by time, by category with a partition key, and why not thousands of them.

What you learn
  - monthly partitions: insert into a partition, search one partition, and
    check that it returns exactly what the whole collection returns with the
    equivalent filter (`month == 3`) — with latency for both;
  - load and release single partitions, and what searching an unloaded one does;
  - the partition key (`is_partition_key=True`): Milvus hashes a field into
    a fixed number of partitions and prunes them from the filter — the
    scalable form, with its limits (no manual partition operations);
  - the measured cost of many manual partitions.

Prerequisites  02_search_tuning
Run            python step02_core_features/03_partitions.py [--n 12000] [--dim 64] [--many 128]
Docs           docs/step02_core_features.md, section "03 파티션"
"""

from __future__ import annotations

from common import cli
from common.connection import quiet_pymilvus
from common.data import make_dataset
from common.metrics import Stopwatch, time_calls
from common.report import heading, table
from common.schemas import drop_if_exists, recreate_collection, vector_index, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l3_"
BY_MONTH = PREFIX + "by_month"
BY_KEY = PREFIX + "by_key"
MANY = PREFIX + "many"
CATEGORIES = [f"cat{i:02d}" for i in range(20)]
K = 10


def schema(dim: int, partition_key: bool = False):
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("month", DataType.INT64)
    s.add_field("category", DataType.VARCHAR, max_length=16, is_partition_key=partition_key)
    s.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    return s


def first_error_line(exc: MilvusException) -> str:
    return exc.message.strip().splitlines()[0][:110]


def monthly_partitions(client, info, data, months, categories, queries) -> dict:
    # FLAT keeps the comparison exact: an ANN index may legitimately differ between two plans
    recreate_collection(client, BY_MONTH, schema(data.base.shape[1]), vector_index("embedding", "FLAT", "COSINE"))
    for m in range(1, 13):
        client.create_partition(BY_MONTH, f"m{m:02d}")
    with Stopwatch() as sw:
        for m in range(1, 13):
            rows_m = np.flatnonzero(months == m)
            client.insert(BY_MONTH, vector_rows(data.base[rows_m], id=rows_m.tolist(), month=[m] * len(rows_m),
                                                category=[categories[i] for i in rows_m]), partition_name=f"m{m:02d}")
        client.flush(BY_MONTH)
    stats = {p: int(client.get_partition_stats(BY_MONTH, p)["row_count"]) for p in ("m01", "m03")}
    expected = {p: int((months == int(p[1:])).sum()) for p in stats}
    print(f"{len(client.list_partitions(BY_MONTH))} partitions (_default + m01..m12): insert {sw.seconds:.1f} s; "
          f"rows in m01 / m03: {stats['m01']} / {stats['m03']} (expected {expected['m01']} / {expected['m03']})")

    def by_partition(q):
        return client.search(BY_MONTH, [q], limit=K, partition_names=["m03"], consistency_level="Bounded",
                             output_fields=["month"])[0]

    def by_filter(q):
        return client.search(BY_MONTH, [q], limit=K, filter="month == 3", consistency_level="Bounded")[0]

    same = sum([h["id"] for h in by_partition(q)] == [h["id"] for h in by_filter(q)] for q in queries)
    part_lat = time_calls(by_partition, queries, warmup=3)
    filt_lat = time_calls(by_filter, queries, warmup=3)
    table([
        {"search": "partition_names=['m03']", "p50 ms": part_lat.p50_ms, "p95 ms": part_lat.p95_ms},
        {"search": "whole collection, filter month == 3", "p50 ms": filt_lat.p50_ms, "p95 ms": filt_lat.p95_ms},
    ])
    only_march = all(h["entity"]["month"] == 3 for q in queries[:10] for h in by_partition(q))
    print(f"identical top-{K} ids for {same}/{len(queries)} queries; partition hits all from month 3: {only_march}")

    base = {"identical": same, "queries": len(queries), "partition_p50_ms": part_lat.p50_ms,
            "filter_p50_ms": filt_lat.p50_ms, "partition_rows": stats, "expected_rows": expected, "only_march": only_march}

    heading("Load and release single partitions")
    if not info.has("partition_load"):
        print(info.skip_reason("partition_load"))
        return {**base, "skipped": [f"partition load: {info.skip_reason('partition_load')}"]}
    client.release_collection(BY_MONTH)
    client.load_partitions(BY_MONTH, ["m03"])
    states = {p: client.get_load_state(BY_MONTH, partition_name=p)["state"].name for p in ("m03", "m04")}
    hits_loaded = len(by_partition(queries[0]))
    with quiet_pymilvus():
        try:
            client.search(BY_MONTH, [queries[0]], limit=K, partition_names=["m04"])
            unloaded = "searched (engine loads on demand)"
        except MilvusException as exc:
            unloaded = f"refused: {first_error_line(exc)}"
    table([{"partition": p, "load state": s} for p, s in states.items()])
    print(f"search m03 → {hits_loaded} hits; search m04 → {unloaded}")
    return {**base, "load_states": states, "unloaded_search": unloaded, "skipped": []}


def partition_key(client, data, months, categories, queries) -> dict:
    recreate_collection(client, BY_KEY, schema(data.base.shape[1], partition_key=True),
                        vector_index("embedding", "FLAT", "COSINE"), num_partitions=16)
    client.insert(BY_KEY, vector_rows(data.base, id=list(range(len(data.base))), month=months.tolist(), category=categories))
    client.flush(BY_KEY)
    partitions = client.list_partitions(BY_KEY)
    print(f"partition key 'category': {len(CATEGORIES)} categories hashed into {len(partitions)} partitions "
          f"({partitions[0]}, …)")
    hits = client.search(BY_KEY, [queries[0]], limit=K, filter='category == "cat07"', output_fields=["category"])[0]
    only_cat07 = all(h["entity"]["category"] == "cat07" for h in hits)
    print(f'filter category == "cat07" → {len(hits)} hits, all cat07: {only_cat07} (Milvus searched only its partition)')
    with quiet_pymilvus():
        try:
            client.create_partition(BY_KEY, "manual")
            manual = "allowed"
        except MilvusException as exc:
            manual = f"refused: {first_error_line(exc)}"
    print(f"create_partition on a partition-key collection → {manual}")
    return {"key_partitions": len(partitions), "key_filter_only_matching": only_cat07, "manual_partition": manual}


def many_partitions(client, data, many: int, queries) -> dict:
    """Same rows in 1 partition vs ``many``: creation time and search latency."""
    out = {}
    n = min(len(data.base), 4000)
    for count in (1, many):
        recreate_collection(client, MANY, schema(data.base.shape[1]), vector_index("embedding", "FLAT", "COSINE"))
        with Stopwatch() as create:
            for p in range(count - 1):
                client.create_partition(MANY, f"p{p}")
        names = client.list_partitions(MANY)
        with Stopwatch() as insert:
            for i, name in enumerate(names):
                idx = np.arange(i, n, len(names))
                client.insert(MANY, vector_rows(data.base[idx], id=idx.tolist(), month=[1] * len(idx), category=["x"] * len(idx)),
                              partition_name=name)
            client.flush(MANY)
        latency = time_calls(lambda q: client.search(MANY, [q], limit=K, consistency_level="Bounded"), queries, warmup=3)
        out[count] = {"partitions": len(names), "create s": create.seconds, "insert+flush s": insert.seconds,
                      "search p50 ms": latency.p50_ms, "search p95 ms": latency.p95_ms}
    drop_if_exists(client, MANY)
    table(list(out.values()))
    return out


def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=int, default=12000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--many", type=int, default=128, help="partitions for the 'too many' demo (default 128)")
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args(argv)

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=50, spread=1.0, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    months = rng.integers(1, 13, size=args.n)
    categories = [CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), size=args.n)]
    queries = data.queries.tolist()

    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, BY_MONTH, BY_KEY, MANY)
        heading("1. Monthly partitions: one partition vs the equivalent filter")
        monthly = monthly_partitions(client, info, data, months, categories, queries)
        heading("2. Partition key: let Milvus partition by category")
        keyed = partition_key(client, data, months, categories, queries)
        heading(f"3. Many manual partitions: the same {min(args.n, 4000)} rows in 1 vs {args.many}")
        many = many_partitions(client, data, args.many, queries)
        slowdown = many[args.many]["search p50 ms"] / many[1]["search p50 ms"]
        print(f"search over {args.many} partitions is {slowdown:.1f}× the latency of 1 (p50); every partition brings its own\n"
              "segments, and a collection caps partitions (rootCoord.maxPartitionNum: 4,096 on 2.3, 1,024 from 2.4).\n"
              "For many tenants use a partition key.")
        drop_if_exists(client, BY_MONTH, BY_KEY)

    return {
        "headline": f"partition == filter for {monthly['identical']}/{monthly['queries']} queries; "
                    f"{args.many} partitions → {slowdown:.1f}× search p50",
        "engine": info.kind,
        **{k: v for k, v in monthly.items() if k != "skipped"},
        **keyed,
        "many": {str(k): v for k, v in many.items()},
        "many_slowdown": slowdown,
        "skipped": monthly["skipped"],
    }


if __name__ == "__main__":
    cli.run(main)
