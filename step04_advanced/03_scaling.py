# %% [markdown]
"""
Scaling the Milvus way — and what client-side sharding really costs.

What you learn
  - shards (`num_shards`): how many write channels a collection has; they
    parallelise ingestion on a cluster, not search on one node (measured);
  - multi-tenancy with a partition key: one collection, a filter per tenant,
    results that never leak across tenants;
  - replicas and resource groups on a server: what exists, and what loading
    with more replicas than query nodes says;
  - a common do-it-yourself pattern, client-side hash sharding into N collections: every
    search fans out to all N (latency measured), and merging per-shard top-k
    by raw score is right only when every shard uses the same metric — shown
    against a single collection's exact answer;
  - capacity planning: memory for N vectors × d per index type.

Prerequisites  Step 2
Run            python step04_advanced/03_scaling.py [--n 12000] [--dim 64] [--shards 4]
Docs           docs/step04_advanced.md, section "03 확장"
"""

# %%
from __future__ import annotations

import zlib

from common import cli
from common.connection import quiet_pymilvus
from common.data import exact_topk, make_dataset
from common.indexes import build_params, memory
from common.metrics import Stopwatch, recall_at_k, time_calls
from common.report import heading, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s4_l3_"
SINGLE = PREFIX + "single"
TENANTS = PREFIX + "tenants"
K = 10


# %% [markdown]
# ## Collections for this lesson, and a client-side router


# %%
def shard_name(i: int) -> str:
    return f"{PREFIX}shard{i}"


def route(pk: int, shards: int) -> int:
    """The client-side router: a stable hash of the key, modulo the number of collections."""
    return zlib.crc32(str(pk).encode()) % shards


def create(client, name: str, dim: int, metric: str = "COSINE", tenant_key: bool = False, **kwargs) -> None:
    """id + embedding (+ a tenant partition key), FLAT index: exact search keeps every comparison below exact."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    if tenant_key:
        schema.add_field(field_name="tenant", datatype=DataType.VARCHAR, max_length=16, is_partition_key=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type=metric)
    drop_if_exists(client, name)
    client.create_collection(
        collection_name=name, schema=schema, index_params=index_params, consistency_level="Strong", **kwargs
    )


# %% [markdown]
# ## Shards: write channels of one collection


# %%
def num_shards_demo(client, data) -> list[dict]:
    rows = []
    for shards in (1, 2):
        # docs:begin shards
        create(
            client, SINGLE, data.base.shape[1], num_shards=shards
        )  # create_collection(..., num_shards=2): two write channels (fixed at creation)
        # docs:end
        batch = vector_rows(data.base, id=range(len(data.base)))
        with Stopwatch() as sw:
            for start in range(0, len(batch), 1000):
                client.insert(collection_name=SINGLE, data=batch[start : start + 1000])
        described = client.describe_collection(SINGLE).get("num_shards")
        rows.append({"num_shards": shards, "described": described, "insert rows/s": len(batch) / sw.seconds})
    return rows


def shards_sentence(rows: list[dict], info) -> str:
    """What the shard rows show, from their numbers: whether the engine kept num_shards, and the insert rates."""
    ignored = [row for row in rows if row["described"] != row["num_shards"]]
    one, two = rows
    rate = two["insert rows/s"] / one["insert rows/s"]
    if ignored:
        asked = ", ".join(f"created {row['num_shards']}, described {row['described']}" for row in ignored)
        return (
            f"{info.label} ignores num_shards ({asked}): both rows are the same one-channel collection, so the\n"
            f"difference in insert rate (×{rate:.2f}) is not a shard effect. A server keeps num_shards (fixed at "
            "creation)."
        )
    return (
        f"num_shards=2 inserted at ×{rate:.2f} the rate of num_shards=1 on {info.label}: shards split the write\n"
        "stream (one channel each) and pay off on a cluster, not on one standalone node.\n"
        "Search throughput grows with query nodes and replicas, not with shards."
    )


# %% [markdown]
# ## The fan-out finding, said from its numbers


# %%
def fan_out_sentence(sharding: dict, shards: int, info) -> str:
    """The fan-out finding, said from the two p50s (which engine makes it meaningful, too)."""
    ratio = sharding["fan-out cost"]
    measured = (
        f"Every search visits all {shards} collections: p50 {sharding['fan-out p50 ms']:.2f} ms against "
        f"{sharding['single p50 ms']:.2f} ms for one collection (×{ratio:.2f})"
    )
    if ratio >= 1:
        return f"{measured}: fan-out costs {ratio:.1f}× one search, and grows with the number of collections."
    return (
        f"{measured}:\ncheaper here, because on {info.label} a search costs the rows it walks more than the call "
        f"(each collection holds 1/{shards} of them).\nWhere the fixed per-call cost dominates, as on a server, "
        "fan-out multiplies it: measure fan-out latency there (docs/troubleshooting.md)."
    )


# %% [markdown]
# ## Multi-tenancy with a partition key


# %%
def tenants_demo(client, data, tenants: int, queries) -> dict:
    # docs:begin tenants
    create(client, TENANTS, data.base.shape[1], tenant_key=True, num_partitions=16)  # tenants hashed into 16
    owner = [f"t{i % tenants:03d}" for i in range(len(data.base))]
    client.insert(collection_name=TENANTS, data=vector_rows(data.base, id=range(len(data.base)), tenant=owner))
    client.flush(collection_name=TENANTS)
    leaks = 0
    for i, q in enumerate(queries[:20]):
        tenant = f"t{i % tenants:03d}"
        hits = client.search(
            collection_name=TENANTS, data=[q], limit=K, output_fields=["tenant"], filter=f'tenant == "{tenant}"'
        )[0]  # every tenant query names its tenant
        leaks += sum(h["entity"]["tenant"] != tenant for h in hits)
    # docs:end
    drop_if_exists(client, TENANTS)
    return {"tenants": tenants, "partitions": 16, "queries": 20, "hits from another tenant": leaks}


# %% [markdown]
# ## Replicas and resource groups


# %%
def replicas_demo(client, info) -> dict:
    if not info.has("replicas"):
        return {"skipped": info.skip_reason("replicas")}
    with quiet_pymilvus():
        groups = client.list_resource_groups()
        client.release_collection(collection_name=SINGLE)
        client.load_collection(collection_name=SINGLE, replica_number=1)  # in-memory copies, each on its own nodes
        replicas = client.describe_replica(SINGLE)
        client.release_collection(collection_name=SINGLE)
        try:
            client.load_collection(collection_name=SINGLE, replica_number=2, timeout=20)
            two = "loaded"
        except MilvusException as exc:
            two = f"refused: {exc.message.strip().splitlines()[0][:100]}"
        client.release_collection(SINGLE)
        client.load_collection(SINGLE)
    return {"resource groups": groups, "replicas with replica_number=1": len(replicas), "replica_number=2": two}


# %% [markdown]
# ## Client-side hash sharding into several collections


# %%
def hash_sharding_demo(client, data, shards: int, queries) -> dict:
    """N collections by crc32(id) % N vs one collection: fan-out latency and the merge."""
    ids = np.arange(len(data.base))
    owner = np.array([route(int(i), shards) for i in ids])
    for s in range(shards):
        rows_s = ids[owner == s]
        metric = "L2" if s == shards - 1 else "COSINE"  # one shard created with another metric by mistake
        create(client, shard_name(s), data.base.shape[1], metric)
        client.insert(collection_name=shard_name(s), data=vector_rows(data.base[rows_s], id=rows_s.tolist()))
        client.flush(collection_name=shard_name(s))
    create(client, SINGLE, data.base.shape[1])
    client.insert(collection_name=SINGLE, data=vector_rows(data.base, id=ids.tolist()))
    client.flush(collection_name=SINGLE)
    truth, _ = exact_topk(data.base, np.asarray(queries), K, "COSINE")

    def fan_out(q):
        return [client.search(shard_name(s), [q], limit=K, consistency_level="Bounded")[0] for s in range(shards)]

    single = time_calls(lambda q: client.search(SINGLE, [q], limit=K, consistency_level="Bounded"), queries, warmup=3)
    fanned = time_calls(fan_out, queries, warmup=3)

    merged_by_score, round_robin, single_found = [], [], []
    for q in queries:
        per_shard = fan_out(q)
        pooled = [h for hits in per_shard for h in hits]
        merged_by_score.append(
            [h["id"] for h in sorted(pooled, key=lambda h: -h["distance"])[:K]]
        )  # "larger is better"
        round_robin.append([hits[r]["id"] for r in range(K) for hits in per_shard if r < len(hits)][:K])
        single_found.append([h["id"] for h in client.search(SINGLE, [q], limit=K)[0]])

    # The same merge, correct once every shard uses COSINE: re-index the odd shard.
    odd = shard_name(shards - 1)
    client.release_collection(collection_name=odd)
    client.drop_index(collection_name=odd, index_name="embedding")
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    client.create_index(collection_name=odd, index_params=index_params)
    client.load_collection(collection_name=odd)
    fixed = []
    for q in queries:
        pooled = [h for hits in fan_out(q) for h in hits]
        fixed.append([h["id"] for h in sorted(pooled, key=lambda h: -h["distance"])[:K]])
    for s in range(shards):
        drop_if_exists(client, shard_name(s))
    return {
        "single p50 ms": single.p50_ms,
        "fan-out p50 ms": fanned.p50_ms,
        "fan-out cost": fanned.p50_ms / single.p50_ms,
        "recall single": recall_at_k(single_found, truth, K),
        "recall merge by score, mixed metrics": recall_at_k(merged_by_score, truth, K),
        "recall round-robin merge": recall_at_k(round_robin, truth, K),
        "recall merge by score, same metric": recall_at_k(fixed, truth, K),
    }


# %% [markdown]
# ## Capacity planning: index memory


# %%
def capacity_table(dim: int) -> list[dict]:
    rows = []
    for n in (1_000_000, 10_000_000, 100_000_000):
        row = {"vectors": n}
        for index_type in ("FLAT", "IVF_SQ8", "IVF_PQ", "HNSW"):
            row[f"{index_type} GiB"] = memory(index_type, dim, build_params(index_type, n, dim)).total_mb(n) / 1024
        rows.append(row)
    return rows


# %% [markdown]
# ## Run the sections in order


# %%
def parse(argv):
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(100, 2_000_000), default=12000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument(
        "--shards", type=cli.int_range(2, 64), default=4, help="collections for client-side hash sharding (default 4)"
    )
    parser.add_argument("--tenants", type=cli.int_range(1, 100_000), default=100)
    parser.add_argument("--queries", type=cli.int_range(20, 100_000), default=40)
    parser.add_argument("--plan-dim", type=cli.DIM, default=768, help="dimension for the capacity table (default 768)")
    parser.add_argument("--seed", type=cli.SEED, default=9)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=50, spread=1.0, seed=args.seed)
    queries = data.queries.tolist()
    skipped = []
    with cli.engine(args.uri) as (client, info):
        drop_if_exists(client, SINGLE, TENANTS, *[shard_name(s) for s in range(args.shards)])

        heading("1. Shards: write channels of one collection")
        shards = num_shards_demo(client, data)
        table(shards)
        print(shards_sentence(shards, info))

        heading(f"2. Multi-tenancy with a partition key ({args.tenants} tenants, one collection)")
        tenancy = tenants_demo(client, data, args.tenants, queries)
        table([tenancy])

        heading("3. Replicas and resource groups")
        replicas = replicas_demo(client, info)
        if "skipped" in replicas:
            print(replicas["skipped"])
            skipped.append(f"replicas: {replicas['skipped']}")
        else:
            table([{"item": k, "value": v} for k, v in replicas.items()])

        heading(f"4. Client-side hash sharding into {args.shards} collections (a common do-it-yourself pattern)")
        sharding = hash_sharding_demo(client, data, args.shards, queries)
        table([{"measure": k, "value": v} for k, v in sharding.items()])
        print(fan_out_sentence(sharding, args.shards, info))
        print(
            "Merging by raw score is exact only if every shard uses the same metric: one L2 shard (distances,\n"
            "smaller is better) mixed into COSINE shards (similarities) silently corrupts the merge.\n"
            "A partition key or num_shards gives the same spread with one search and no merge code."
        )
        drop_if_exists(client, SINGLE)

    heading(f"5. Capacity planning: index memory for N × {args.plan_dim}-d vectors")
    capacity = capacity_table(args.plan_dim)
    table(capacity)
    print(
        "Plan headroom on top: an index build holds a segment twice while it runs, and growing segments are\n"
        "raw, unindexed vectors. Measure your own load before sizing (monitoring, lesson 4.6)."
    )
    return {
        "headline": f"hash-sharding fan-out ×{sharding['fan-out cost']:.2f}; mixed-metric merge recall "
        f"{sharding['recall merge by score, mixed metrics']:.2f} vs "
        f"{sharding['recall merge by score, same metric']:.2f}",
        "engine": info.kind,
        "shards": shards,
        "shards_sentence": shards_sentence(shards, info),
        "fan_out_sentence": fan_out_sentence(sharding, args.shards, info),
        "tenancy": tenancy,
        "replicas": replicas,
        "sharding": sharding,
        "capacity": capacity,
        "skipped": skipped,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
