# %% [markdown]
"""
Databases and snapshots: tenants in their own database, and the three ways to keep a copy of a collection.

What you learn
  - databases as the first level of multi-tenancy: create, list, drop; one client per tenant
    (`MilvusClient(..., db_name=...)`), the same collection name in each, and no row crossing over
    (checked on search results);
  - privileges granted per database (RBAC, server only): a role's grant names its database;
  - which tenancy level to choose (database / collection / partition / partition key), with the
    limits the Milvus docs give for each;
  - snapshots (Milvus 3.0: `create_snapshot` / `restore_snapshot`) next to the export/restore of
    lesson 4.5 and the milvus-backup tool: what each copies, where it lives, and when to use which.

Prerequisites  4.3 (partition-key tenancy), 4.5 (export and restore)
Run            python step04_advanced/08_databases_and_snapshots.py [--uri URI] [--n 300]
Docs           docs/step04_advanced.md, section "08 데이터베이스와 스냅숏"
"""

# %%
from __future__ import annotations

import time

from common import cli
from common.config import load_settings, resolve_uri
from common.connection import quiet_pymilvus
from common.engine import REFUSED
from common.report import heading, table
from common.rows import count_rows, drop_if_exists

import numpy as np
from pymilvus import DataType, MilvusClient

PREFIX = "s4_l8_"
TENANTS = (PREFIX + "acme", PREFIX + "globex")
DOCS = "docs"  # the same collection name in every tenant's database
ROLE = PREFIX + "acme_reader"
SNAPSHOT = PREFIX + "nightly"
DIM = 16


# %% [markdown]
# ## The same collection in every tenant's database


# %%
def create_docs(client) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="tenant", datatype=DataType.VARCHAR, max_length=32)
    schema.add_field(field_name="vector", datatype=DataType.FLOAT_VECTOR, dim=DIM)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    drop_if_exists(client, DOCS)
    client.create_collection(collection_name=DOCS, schema=schema, index_params=index_params, consistency_level="Strong")


# %% [markdown]
# ## One database per tenant


# %%
# docs:begin databases
def open_tenant(uri: str, token: str, tenant: str) -> MilvusClient:
    """One client per tenant: every call it makes is scoped to that database."""
    return MilvusClient(
        uri=uri,
        token=token,
        db_name=tenant,  # the database this client works in ("default" when not given)
    )


def create_tenant(client, tenant: str) -> None:
    if tenant not in client.list_databases():
        client.create_database(db_name=tenant)  # a namespace: collections, aliases, privileges


def drop_tenant(admin, tenant_client, tenant: str) -> None:
    """A database must be empty before it is dropped."""
    for name in tenant_client.list_collections():
        tenant_client.drop_collection(collection_name=name)
    admin.drop_database(db_name=tenant)


# docs:end


def tenants_section(admin, info, uri: str, token: str, n: int, rng) -> dict:
    heading("1. One database per tenant: same collection name, separate data")
    sizes = {TENANTS[0]: n, TENANTS[1]: n // 2}
    clients, queries, rows = {}, {}, []
    try:
        for tenant, size in sizes.items():
            create_tenant(admin, tenant)
            clients[tenant] = open_tenant(uri, token, tenant)
            create_docs(clients[tenant])
            vectors = rng.random((size, DIM)).astype(np.float32)
            clients[tenant].insert(
                collection_name=DOCS,
                data=[{"id": i, "tenant": tenant, "vector": v.tolist()} for i, v in enumerate(vectors)],
            )
            queries[tenant] = vectors[:10].tolist()
        for tenant, client in clients.items():
            other = next(t for t in TENANTS if t != tenant)
            hits = client.search(collection_name=DOCS, data=queries[other], limit=5, output_fields=["tenant"])
            foreign = sum(hit["entity"]["tenant"] != tenant for query in hits for hit in query)
            rows.append(
                {
                    "database": tenant,
                    "collections": client.list_collections(),
                    "rows": count_rows(client, DOCS),
                    "expected": sizes[tenant],
                    "foreign rows in 50 hits (queries from the other tenant)": foreign,
                }
            )
        listed = [name for name in admin.list_databases() if name.startswith(PREFIX)]
        table(rows)
        print(f"list_databases(): {sorted(listed)} (and 'default')")
    finally:
        for tenant, client in clients.items():
            drop_tenant(admin, client, tenant)
            client.close()
    gone = [name for name in admin.list_databases() if name.startswith(PREFIX)]
    print(f"after drop_database: {gone or 'none of ours left'}")
    return {"tenants": rows, "listed": sorted(listed), "left_after_drop": gone}


# %% [markdown]
# ## Privileges per database (RBAC)


# %%
# docs:begin rbac
def grant_tenant_reader(client, tenant: str) -> dict:
    """A role that may search and query every collection of one database, and nothing elsewhere."""
    client.create_role(
        role_name=ROLE,  # a role holds privileges; users get roles (lesson 5.5)
    )
    for privilege in ("Search", "Query", "Load"):
        client.grant_privilege(
            role_name=ROLE,  # the role that gets the privilege
            object_type="Collection",  # the privilege applies to collections ...
            privilege=privilege,  # one privilege per call: Search, Query, Load, Insert, ...
            object_name="*",  # ... every collection ...
            db_name=tenant,  # ... of this database only
        )
    return client.describe_role(role_name=ROLE)


# docs:end


def rbac_section(admin, info, token: str) -> tuple[dict, list[str]]:
    heading("2. Privileges per database (RBAC)")
    if not info.has("rbac"):
        print(info.skip_reason("rbac"))
        return {}, [info.skip_reason("rbac")]
    if not token:
        line = (
            f"skipped: needs authorization (have {info.label}, connected without MILVUS_TOKEN): "
            "privileges exist only on a server started with authorization, as in lesson 5.5"
        )
        print(line)
        return {}, [line]
    create_tenant(admin, TENANTS[0])
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            if ROLE in admin.list_roles():
                admin.drop_role(role_name=ROLE, force_drop=True)
            role = grant_tenant_reader(admin, TENANTS[0])
    except REFUSED as exc:
        return {}, ["rbac: " + info.refusal(exc)]
    finally:
        with quiet_pymilvus():
            if ROLE in admin.list_roles():
                admin.drop_role(role_name=ROLE, force_drop=True)
            admin.drop_database(db_name=TENANTS[0])
    grants = [
        {"privilege": g.get("privilege"), "object": g.get("object_name"), "database": g.get("db_name")}
        for g in role.get("privileges", [])
    ]
    table(grants)
    return {"grants": grants}, []


# %% [markdown]
# ## Snapshots (Milvus 3.0)


# %%
# docs:begin snapshots
def snapshot_and_restore(client, source: str, target: str, timeout_s: float) -> dict:
    """Milvus 3.0: a snapshot pins the collection's segments in object storage; restoring builds a new collection."""
    client.flush(collection_name=source)  # a snapshot covers flushed segments
    client.create_snapshot(
        snapshot_name=SNAPSHOT,
        collection_name=source,
        description="before the nightly re-embedding",
    )
    job = client.restore_snapshot(
        snapshot_name=SNAPSHOT,
        source_collection_name=source,  # the snapshot's collection
        target_collection_name=target,  # a new collection; an existing name is refused
    )
    deadline = time.monotonic() + timeout_s
    state = client.get_restore_snapshot_state(job_id=job)  # a RestoreSnapshotJobInfo: state, progress, reason
    while state.state in ("RestoreSnapshotPending", "RestoreSnapshotExecuting") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = client.get_restore_snapshot_state(job_id=job)
    return {"listed": client.list_snapshots(collection_name=source), "state": state.state, "reason": state.reason}


# docs:end


def snapshot_section(admin, info, rng, timeout_s: float) -> tuple[dict, list[str]]:
    heading("3. Snapshots (Milvus 3.0)")
    if not info.has("snapshots"):
        print(info.skip_reason("snapshots"))
        return {}, [info.skip_reason("snapshots")]
    source, target = PREFIX + "source", PREFIX + "restored"
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            for name in (source, target):
                drop_if_exists(admin, name)
            create_docs(admin)
            admin.rename_collection(old_name=DOCS, new_name=source)
            admin.insert(
                collection_name=source,
                data=[{"id": i, "tenant": "default", "vector": rng.random(DIM).tolist()} for i in range(200)],
            )
            result = snapshot_and_restore(admin, source, target, timeout_s)
            restored = count_rows(admin, target) if admin.has_collection(target) else 0
    except REFUSED as exc:
        return {}, ["snapshots: " + info.refusal(exc)]
    finally:
        with quiet_pymilvus():
            if info.has("snapshots") and not info.assumed:
                admin.drop_snapshot(snapshot_name=SNAPSHOT, collection_name=source)
        for name in (source, target):
            drop_if_exists(admin, name)
    print(
        f"snapshots of {source}: {result['listed']}; restore {result['state']} {result['reason']}; "
        f"rows restored {restored} of 200"
    )
    return {"restored_rows": restored, "state": result["state"]}, []


# %% [markdown]
# ## Which tenancy level, which kind of copy


# %%
TENANCY = [  # limits: Milvus 2.6 docs, "Implement Multi-tenancy" (multi_tenancy.md)
    {
        "level": "database",
        "tenants (default limit)": "64 databases",
        "isolation": "full: schema, RBAC, load/release",
        "choose when": "few tenants that need their own schemas, privileges or compliance boundary",
    },
    {
        "level": "collection",
        "tenants (default limit)": "65,536 collections",
        "isolation": "physical per tenant",
        "choose when": "hundreds to thousands of tenants, different schemas, per-tenant RBAC",
    },
    {
        "level": "partition",
        "tenants (default limit)": "1,024 per collection",
        "isolation": "physical, shared schema",
        "choose when": "a bounded number of tenants, one schema, load hot tenants only",
    },
    {
        "level": "partition key",
        "tenants (default limit)": "millions",
        "isolation": "logical: a filter on the key",
        "choose when": "many small tenants, one schema; the key routes each query (lesson 4.3)",
    },
]

COPIES = [
    {
        "way": "export / restore (lesson 4.5)",
        "copies": "rows + schema + index params, via the client",
        "where": "files you choose, checksummed",
        "version": "every version",
        "use for": "one collection, moving between engines (Lite ↔ server), a reviewable copy",
    },
    {
        "way": "snapshot (create_snapshot)",
        "copies": "the collection's segments, pinned in place",
        "where": "the server's object storage",
        "version": "Milvus 3.0",
        "use for": "a fast point to return to before a risky change on the same cluster",
    },
    {
        "way": "milvus-backup (v0.5.16)",
        "copies": "collections or databases: segments + metadata",
        "where": "another bucket or a local folder (backupStorageType: local)",
        "version": "back up 2.2+, restore to 2.4+",
        "use for": "disaster recovery and cluster migration, scheduled (the CronJob in lesson 5.1)",
    },
]


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(20, 100_000), default=300, help="rows of the first tenant")
    parser.add_argument("--timeout", type=cli.float_range(1, 600), default=60, help="seconds to wait for a restore")
    parser.add_argument("--seed", type=cli.SEED, default=48)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    settings = load_settings()
    uri = resolve_uri(args.uri) if args.uri else settings.milvus_uri
    with cli.engine(args.uri) as (admin, info):
        tenants = tenants_section(admin, info, uri, settings.milvus_token, args.n, rng)
        rbac, lines = rbac_section(admin, info, settings.milvus_token)
        snapshots, snapshot_lines = snapshot_section(admin, info, rng, args.timeout)
        heading("4. Which tenancy level, which kind of copy")
        table(TENANCY)
        table(COPIES)
    lines += snapshot_lines
    isolated = all(row["foreign rows in 50 hits (queries from the other tenant)"] == 0 for row in tenants["tenants"])
    return {
        "headline": f"{len(tenants['tenants'])} tenant databases, rows isolated: {isolated}; "
        f"snapshots: {snapshots.get('state', 'not on this engine')}",
        "engine": info.kind,
        "tenants": tenants,
        "isolated": isolated,
        "rbac": rbac,
        "snapshots": snapshots,
        "skipped": [line for line in lines if line.startswith("skipped")],
        "refused": [line for line in lines if "refused by" in line],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
