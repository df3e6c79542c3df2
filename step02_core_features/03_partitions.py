# %% [markdown]
"""
Partitions: by time, by category with a partition key, and why not thousands of them.

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

# %%
from __future__ import annotations

from common import cli
from common.connection import quiet_pymilvus
from common.data import make_dataset
from common.metrics import Stopwatch, time_calls
from common.report import heading, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l3_"
BY_MONTH = PREFIX + "by_month"
BY_KEY = PREFIX + "by_key"
MANY = PREFIX + "many"
CATEGORIES = [f"cat{i:02d}" for i in range(20)]
K = 10


# %% [markdown]
# ## Collections for this lesson


# %%
def create(client, name: str, dim: int, partition_key: bool = False, **kwargs) -> None:
    """id, month, category, embedding; FLAT keeps every comparison exact (an ANN index may differ per plan)."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="month", datatype=DataType.INT64)
    schema.add_field(
        field_name="category", datatype=DataType.VARCHAR, max_length=16, is_partition_key=partition_key
    )  # True: Milvus routes rows to partitions by this field's hash
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, name)
    client.create_collection(
        collection_name=name, schema=schema, index_params=index_params, consistency_level="Strong", **kwargs
    )


# %% [markdown]
# ## Monthly partitions vs the equivalent filter


# %%
# docs:begin monthly
def fill_by_month(client, data, months, categories) -> None:
    """One partition per month; each row is inserted into its month's partition."""
    create(client, BY_MONTH, data.base.shape[1])  # every collection starts with a partition "_default"
    for m in range(1, 13):
        client.create_partition(
            collection_name=BY_MONTH,
            partition_name=f"m{m:02d}",  # a name you choose; up to 1,024 per collection from Milvus 2.4
        )
    for m in range(1, 13):
        rows_m = np.flatnonzero(months == m)
        client.insert(
            collection_name=BY_MONTH,
            partition_name=f"m{m:02d}",  # rows go to this partition only
            data=vector_rows(
                data.base[rows_m], id=rows_m.tolist(), month=[m] * len(rows_m), category=[categories[i] for i in rows_m]
            ),
        )
    client.flush(collection_name=BY_MONTH)


def search_march(client, query: list[float], by_partition: bool) -> list[dict]:
    """The same question two ways: search one partition, or the whole collection with a filter."""
    if by_partition:
        return client.search(
            collection_name=BY_MONTH,
            data=[query],
            limit=K,
            output_fields=["month"],
            consistency_level="Bounded",
            partition_names=["m03"],
        )[0]  # only these are searched
    return client.search(
        collection_name=BY_MONTH,
        data=[query],
        limit=K,
        output_fields=["month"],
        consistency_level="Bounded",
        filter="month == 3",
    )[0]


# docs:end


def first_error_line(exc: MilvusException) -> str:
    return exc.message.strip().splitlines()[0][:110]


def monthly_partitions(client, data, months, categories, queries) -> dict:
    with Stopwatch() as sw:
        fill_by_month(client, data, months, categories)
    stats = {p: int(client.get_partition_stats(BY_MONTH, p)["row_count"]) for p in ("m01", "m03")}
    expected = {p: int((months == int(p[1:])).sum()) for p in stats}
    print(
        f"{len(client.list_partitions(BY_MONTH))} partitions (_default + m01..m12): insert {sw.seconds:.1f} s; "
        f"rows in m01 / m03: {stats['m01']} / {stats['m03']} (expected {expected['m01']} / {expected['m03']})"
    )
    same = sum(
        [h["id"] for h in search_march(client, q, True)] == [h["id"] for h in search_march(client, q, False)]
        for q in queries
    )
    part_lat = time_calls(lambda q: search_march(client, q, True), queries, warmup=3)
    filt_lat = time_calls(lambda q: search_march(client, q, False), queries, warmup=3)
    table(
        [
            {"search": "partition_names=['m03']", "p50 ms": part_lat.p50_ms, "p95 ms": part_lat.p95_ms},
            {"search": "whole collection, filter month == 3", "p50 ms": filt_lat.p50_ms, "p95 ms": filt_lat.p95_ms},
        ]
    )
    only_march = all(h["entity"]["month"] == 3 for q in queries[:10] for h in search_march(client, q, True))
    print(f"identical top-{K} ids for {same}/{len(queries)} queries; partition hits all from month 3: {only_march}")
    return {
        "identical": same,
        "queries": len(queries),
        "partition_p50_ms": part_lat.p50_ms,
        "filter_p50_ms": filt_lat.p50_ms,
        "partition_rows": stats,
        "expected_rows": expected,
        "only_march": only_march,
    }


# %% [markdown]
# ## Load and release single partitions


# %%
# docs:begin load-partitions
def load_one_partition(client) -> dict:
    """Release the collection, then load only March: memory for one month instead of twelve."""
    client.release_collection(collection_name=BY_MONTH)
    client.load_partitions(
        collection_name=BY_MONTH,
        partition_names=["m03"],  # only these partitions are loaded into memory
    )
    return {p: client.get_load_state(BY_MONTH, partition_name=p)["state"].name for p in ("m03", "m04")}


# docs:end


def partial_load(client, info, queries) -> dict:
    if not info.has("partition_load"):
        print(info.skip_reason("partition_load"))
        return {"skipped": [f"partition load: {info.skip_reason('partition_load')}"]}
    states = load_one_partition(client)
    hits_loaded = len(search_march(client, queries[0], True))
    with quiet_pymilvus():
        try:
            client.search(collection_name=BY_MONTH, data=[queries[0]], limit=K, partition_names=["m04"])
            unloaded = "searched (engine loads on demand)"
        except MilvusException as exc:
            unloaded = f"refused: {first_error_line(exc)}"
    table([{"partition": p, "load state": s} for p, s in states.items()])
    print(f"search m03 → {hits_loaded} hits; search m04 → {unloaded}")
    return {"load_states": states, "unloaded_search": unloaded, "skipped": []}


# %% [markdown]
# ## Partition key: let Milvus partition by category


# %%
def partition_key(client, data, months, categories, queries) -> dict:
    # docs:begin partition-key
    create(
        client, BY_KEY, data.base.shape[1], partition_key=True, num_partitions=16
    )  # create_collection(..., num_partitions=16): the hash buckets of the partition key
    client.insert(
        collection_name=BY_KEY,
        data=vector_rows(data.base, id=list(range(len(data.base))), month=months.tolist(), category=categories),
    )
    client.flush(collection_name=BY_KEY)
    hits = client.search(
        collection_name=BY_KEY, data=[queries[0]], limit=K, output_fields=["category"], filter='category == "cat07"'
    )[0]  # the filter on the key prunes to one partition
    # docs:end
    partitions = client.list_partitions(BY_KEY)
    print(
        f"partition key 'category': {len(CATEGORIES)} categories hashed into {len(partitions)} partitions "
        f"({partitions[0]}, …)"
    )
    only_cat07 = all(h["entity"]["category"] == "cat07" for h in hits)
    print(
        f'filter category == "cat07" → {len(hits)} hits, all cat07: {only_cat07} (Milvus searched only its partition)'
    )
    with quiet_pymilvus():
        try:
            client.create_partition(BY_KEY, "manual")
            manual = "allowed"
        except MilvusException as exc:
            manual = f"refused: {first_error_line(exc)}"
    print(f"create_partition on a partition-key collection → {manual}")
    return {"key_partitions": len(partitions), "key_filter_only_matching": only_cat07, "manual_partition": manual}


# %% [markdown]
# ## Many manual partitions


# %%
def many_partitions(client, data, many: int, queries) -> dict:
    """Same rows in 1 partition vs ``many``: creation time and search latency."""
    out = {}
    n = min(len(data.base), 4000)
    for count in (1, many):
        create(client, MANY, data.base.shape[1])
        with Stopwatch() as made:
            for p in range(count - 1):
                client.create_partition(MANY, f"p{p}")
        names = client.list_partitions(MANY)
        with Stopwatch() as insert:
            for i, name in enumerate(names):
                idx = np.arange(i, n, len(names))
                client.insert(
                    collection_name=MANY,
                    partition_name=name,
                    data=vector_rows(data.base[idx], id=idx.tolist(), month=[1] * len(idx), category=["x"] * len(idx)),
                )
            client.flush(collection_name=MANY)
        latency = time_calls(
            lambda q: client.search(collection_name=MANY, data=[q], limit=K, consistency_level="Bounded"),
            queries,
            warmup=3,
        )
        out[count] = {
            "partitions": len(names),
            "create s": made.seconds,
            "insert+flush s": insert.seconds,
            "search p50 ms": latency.p50_ms,
            "search p95 ms": latency.p95_ms,
        }
    drop_if_exists(client, MANY)
    table(list(out.values()))
    return out


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(1200, 2_000_000), default=12000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument("--queries", type=cli.int_range(2, 100_000), default=50)
    parser.add_argument(
        "--many", type=cli.int_range(2, 1024), default=128, help="partitions for the 'too many' demo (default 128)"
    )
    parser.add_argument("--seed", type=cli.SEED, default=2)
    args = parser.parse_args(argv)

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=50, spread=1.0, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    months = rng.integers(1, 13, size=args.n)
    categories = [CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), size=args.n)]
    queries = data.queries.tolist()

    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, BY_MONTH, BY_KEY, MANY)
        heading("1. Monthly partitions: one partition vs the equivalent filter")
        monthly = monthly_partitions(client, data, months, categories, queries)
        heading("Load and release single partitions")
        monthly.update(partial_load(client, info, queries))
        heading("2. Partition key: let Milvus partition by category")
        keyed = partition_key(client, data, months, categories, queries)
        heading(f"3. Many manual partitions: the same {min(args.n, 4000)} rows in 1 vs {args.many}")
        many = many_partitions(client, data, args.many, queries)
        slowdown = many[args.many]["search p50 ms"] / many[1]["search p50 ms"]
        print(
            f"search over {args.many} partitions is {slowdown:.1f}× the latency of 1 (p50); every partition brings "
            "its own\n"
            "segments, and a collection caps partitions (rootCoord.maxPartitionNum: 4,096 on 2.3, 1,024 from 2.4).\n"
            "For many tenants use a partition key."
        )
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


# %%
if __name__ == "__main__":
    cli.run(main)
