# %% [markdown]
"""
Backup and restore: export a collection with a checksummed manifest, drop it, restore, verify.

What you learn
  - what a logical backup needs: the schema, the index parameters, every row
    (read with `query_iterator`, so memory stays bounded), and a manifest
    with the row count and a SHA-256 per file;
  - restore as all-or-nothing: checksums are verified before anything is
    written, an existing collection is never overwritten unless asked, and a
    failed restore drops what it created;
  - the proof: same row count, same ids, same vector checksum and the same
    top-k for a fixed query set after the round trip;
  - that a single flipped byte or a truncated file is caught.

For server-level backups (all collections, object storage, point in time)
use the milvus-backup tool; docs/step04_advanced.md explains it and its limits.

Prerequisites  Step 1
Run            python step04_advanced/05_backup_restore.py [--n 5000] [--dir .milvus/backups]
Docs           docs/step04_advanced.md, section "05 백업과 복원"
"""

# %%
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from common import cli, indexes, resources
from common.config import REPO_ROOT
from common.connection import quiet_pymilvus
from common.data import make_dataset
from common.errors import BadInput
from common.metrics import Stopwatch
from common.report import heading, table
from common.rows import count_rows, drop_if_exists, search_ids, vector_rows

import numpy as np
from pymilvus import DataType, MilvusClient

PREFIX = "s4_l5_"
COLLECTION = PREFIX + "catalog"
K = 10
BACKUP_FILES = ("manifest.json", "vectors.npy", "rows.jsonl")  # all a backup folder of this lesson holds
SEARCH = {"metric_type": "COSINE", "params": {"ef": 256}}


# %% [markdown]
# ## The collection to protect


# %%
def create_catalog(client, info, data, rng) -> None:
    """The collection to protect: scalar, ARRAY, JSON and vector fields, HNSW index, loaded."""
    n, dim = data.base.shape
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=128)
    schema.add_field(field_name="price", datatype=DataType.FLOAT)
    schema.add_field(
        field_name="tags", datatype=DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=16
    )
    schema.add_field(field_name="meta", datatype=DataType.JSON)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    drop_if_exists(client, COLLECTION)
    client.create_collection(collection_name=COLLECTION, schema=schema, consistency_level="Strong")
    rows = vector_rows(
        data.base,
        id=list(range(n)),
        title=[f"item {i}" for i in range(n)],
        price=np.round(rng.uniform(1, 500, n), 2).tolist(),
        tags=[["sale"] if i % 3 == 0 else ["new", "eco"] for i in range(n)],
        meta=[{"rank": i % 7, "origin": "KR" if i % 2 else "DE"} for i in range(n)],
    )
    for start in range(0, n, 2000):
        client.insert(collection_name=COLLECTION, data=rows[start : start + 2000])
    client.flush(collection_name=COLLECTION)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    client.create_index(collection_name=COLLECTION, index_params=index_params)
    client.load_collection(collection_name=COLLECTION)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def vector_field(description: dict) -> str:
    return next(f["name"] for f in description["fields"] if f["type"] == DataType.FLOAT_VECTOR)


# %% [markdown]
# ## Backup: export every row, with a checksummed manifest


# %%
# docs:begin export
def export_rows(client, name: str, fields: list[str], batch: int) -> list[dict]:
    """Every row of ``name``, page by page: memory grows with the rows kept, not with one huge query."""
    rows = []
    with quiet_pymilvus():  # Milvus Lite has no MVCC timestamp to pin the iterator to; pymilvus warns and goes on
        iterator = client.query_iterator(collection_name=name, batch_size=batch, filter="", output_fields=fields)
    while page := iterator.next():
        rows += page
    iterator.close()
    return sorted(rows, key=lambda row: row["id"])


# docs:end


def backup(client, name: str, target: Path, batch: int = 1000) -> dict:
    """Write schema, index parameters and all rows of ``name`` to ``target``; return the manifest.

    The files go to a sibling folder first and replace ``target`` only when complete, so a failed
    backup never destroys the previous one.
    """
    description = client.describe_collection(name)
    rows = export_rows(client, name, [f["name"] for f in description["fields"]], batch)
    final, target = target, target.with_name(target.name + ".partial")
    remove_backup(target)
    try:
        target.mkdir(parents=True)
        manifest = write_backup(client, name, description, rows, target)
    except BaseException as exc:
        remove_backup(target)  # a disk filling up mid-backup leaves no .partial behind; the old backup stays
        machine = resources.resource_error(exc, str(target)) if isinstance(exc, OSError) else None
        if machine:
            raise machine from None
        raise
    remove_backup(final)  # only now is the previous backup replaced
    target.rename(final)
    return manifest


def remove_backup(folder: Path) -> None:
    """Delete a backup folder this lesson wrote; a folder holding anything else is refused, never deleted."""
    resources.remove_course_folder(folder, BACKUP_FILES, "a backup made by this lesson")


def write_backup(client, name: str, description: dict, rows: list[dict], target: Path) -> dict:
    """The backup's files in ``target``: vectors, the other fields row by row, then the manifest (last)."""
    vec = vector_field(description)
    fields = [f["name"] for f in description["fields"]]
    vectors = np.asarray([row[vec] for row in rows], dtype=np.float32)
    np.save(target / "vectors.npy", vectors)
    scalars = [f for f in fields if f != vec]
    with open(target / "rows.jsonl", "w") as f:
        for row in rows:  # keys in schema order: engines return them in different orders
            f.write(json.dumps({k: row[k] for k in scalars}, ensure_ascii=False) + "\n")
    described = [client.describe_index(name, index_name) for index_name in client.list_indexes(name)]
    manifest = {
        "collection": name,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "row_count": len(rows),
        "vector_field": vec,
        "schema": {
            "enable_dynamic_field": description.get("enable_dynamic_field", False),
            "fields": [
                {
                    **{k: v for k, v in f.items() if k in ("name", "params", "is_primary", "auto_id")},
                    "type": f["type"].name,
                    **({"element_type": f["element_type"].name} if f.get("element_type") else {}),
                }
                for f in description["fields"]
            ],
        },
        "indexes": [  # the build params as the engine reports it applied them, in one engine-neutral form
            {
                **{k: index.get(k) for k in ("field_name", "index_name", "index_type", "metric_type")},
                "build_params": indexes.reported_build_params(index),
            }
            for index in described
        ],
        "files": {file: sha256(target / file) for file in ("vectors.npy", "rows.jsonl")},
        "vector_sha256": hashlib.sha256(vectors.tobytes()).hexdigest(),
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


# %% [markdown]
# ## Restore: verify the files, then rebuild the collection


# %%
def read_verified(source: Path) -> tuple[dict, np.ndarray, list[dict]]:
    """Load a backup, refusing it if any file's checksum or the row count does not match."""
    manifest_path = source / "manifest.json"
    if not manifest_path.exists():
        raise BadInput(f"{source} has no manifest.json", "point --dir at a backup made by this lesson")
    manifest = json.loads(manifest_path.read_text())
    for file, expected in manifest["files"].items():
        path = source / file
        if not path.exists() or sha256(path) != expected:
            raise BadInput(
                f"backup file {path} is corrupted or truncated (SHA-256 does not match the manifest)",
                "restore from another copy of the backup; nothing was written to Milvus",
            )
    vectors = np.load(source / "vectors.npy")
    rows = [json.loads(line) for line in (source / "rows.jsonl").read_text().splitlines()]
    if not len(rows) == len(vectors) == manifest["row_count"]:
        raise BadInput(
            f"backup {source} holds {len(rows)} rows and {len(vectors)} vectors, manifest says {manifest['row_count']}",
            "the backup is incomplete; use another copy",
        )
    return manifest, vectors, rows


def schema_from(manifest: dict):
    spec = manifest["schema"]
    primary = next(f for f in spec["fields"] if f.get("is_primary"))
    schema = MilvusClient.create_schema(
        auto_id=bool(primary.get("auto_id")), enable_dynamic_field=spec["enable_dynamic_field"]
    )
    for field in spec["fields"]:
        kwargs = dict(field.get("params", {}))
        if field.get("element_type"):
            kwargs["element_type"] = DataType[field["element_type"]]
        schema.add_field(
            field_name=field["name"],
            datatype=DataType[field["type"]],
            is_primary=bool(field.get("is_primary")),
            **kwargs,
        )
    return schema


# docs:begin restore
def restore(client, info, source: Path, name: str | None = None, force: bool = False, batch: int = 1000) -> dict:
    """Restore a verified backup into ``name`` (default: the original name). All or nothing."""
    manifest, vectors, rows = read_verified(source)
    name = name or manifest["collection"]
    if client.has_collection(name) and not force:
        raise BadInput(
            f"collection {name!r} already exists; restore refuses to overwrite it",
            "drop it first, or restore under another name (restore(..., name=...))",
        )
    index_params = MilvusClient.prepare_index_params()
    for index in manifest["indexes"]:
        index_params.add_index(
            field_name=index["field_name"],
            index_name=index["index_name"],
            index_type=index["index_type"],
            metric_type=index["metric_type"],
            params=indexes.engine_build_params(info, index["build_params"]),  # in the form this engine reads
        )
    drop_if_exists(client, name)
    client.create_collection(collection_name=name, schema=schema_from(manifest), consistency_level="Strong")
    try:
        vec = manifest["vector_field"]
        for start in range(0, len(rows), batch):
            chunk = [
                dict(row, **{vec: vectors[start + i].tolist()}) for i, row in enumerate(rows[start : start + batch])
            ]
            client.insert(collection_name=name, data=chunk)
        client.flush(collection_name=name)
        client.create_index(collection_name=name, index_params=index_params, timeout=300)
        client.load_collection(collection_name=name, timeout=300)
    except Exception:
        drop_if_exists(client, name)  # no half-restored collection left behind
        raise
    return manifest


# docs:end


# %% [markdown]
# ## Drop, restore, verify the round trip


# %%
def built(manifest: dict) -> str:
    """The manifest's indexes in one line: ``HNSW M=16 efConstruction=128``."""
    return "; ".join(
        " ".join([index["index_type"], *(f"{k}={v}" for k, v in index["build_params"].items())])
        for index in manifest["indexes"]
    )


def round_trip(client, info, target: Path, manifest: dict, topk_before, data, n: int, check_dir: Path) -> dict:
    heading("2. Drop, then restore")
    client.drop_collection(collection_name=COLLECTION)
    with Stopwatch() as restore_time:
        restore(client, info, target)
    try:
        restore(client, info, target)
        refused = "overwrote (unexpected)"
    except BadInput as exc:
        refused = exc.message
    print(f"restored in {restore_time.seconds:.1f} s; a second restore → {refused}")

    heading("3. Verify the round trip")
    again = backup(client, COLLECTION, check_dir)
    remove_backup(check_dir)
    ids_after = [row["id"] for row in export_rows(client, COLLECTION, ["id"], 1000)]
    topk_after = search_ids(client, COLLECTION, data.queries, K, search_params=SEARCH)
    same_topk = sum(a == b for a, b in zip(topk_before, topk_after))
    checks = [
        {"check": "row count", "before": manifest["row_count"], "after": count_rows(client, COLLECTION)},
        {"check": "ids", "before": "0..n-1", "after": "same" if ids_after == list(range(n)) else "DIFFERENT"},
        {"check": "vector SHA-256", "before": manifest["vector_sha256"][:16], "after": again["vector_sha256"][:16]},
        {
            "check": "rows.jsonl SHA-256",
            "before": manifest["files"]["rows.jsonl"][:16],
            "after": again["files"]["rows.jsonl"][:16],
        },
        {"check": "index build params", "before": built(manifest), "after": built(again)},
        {"check": f"top-{K} ids for {len(data.queries)} queries", "before": len(data.queries), "after": same_topk},
    ]
    table(checks)
    return {
        "rows_after": checks[0]["after"],
        "ids_same": ids_after == list(range(n)),
        "vector_checksum_same": again["vector_sha256"] == manifest["vector_sha256"],
        "rows_checksum_same": again["files"]["rows.jsonl"] == manifest["files"]["rows.jsonl"],
        "index_same": manifest["indexes"] == again["indexes"],
        "topk_same": same_topk,
        "overwrite_refused": "refuses to overwrite" in refused,
    }


# %% [markdown]
# ## Damaged backups are refused


# %%
def damage_demo(client, info, target: Path, root: Path) -> dict:
    heading("4. Damaged backups are refused before anything is written")
    client.drop_collection(collection_name=COLLECTION)
    damage = {}
    for label, harm in (("one flipped byte in vectors.npy", "flip"), ("rows.jsonl cut short", "truncate")):
        broken = root / (COLLECTION + "_broken")
        remove_backup(broken)
        shutil.copytree(target, broken)
        path = broken / ("vectors.npy" if harm == "flip" else "rows.jsonl")
        content = bytearray(path.read_bytes())
        if harm == "flip":
            content[len(content) // 2] ^= 0x01
        else:
            content = content[: len(content) // 2]
        path.write_bytes(bytes(content))
        try:
            restore(client, info, broken)
            damage[label] = "restored (unexpected)"
        except BadInput as exc:
            damage[label] = exc.message.replace(str(broken), "<backup>")
        remove_backup(broken)
    table(
        [
            {"damage": k, "restore says": v, "collection created": client.has_collection(COLLECTION)}
            for k, v in damage.items()
        ]
    )
    return damage


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(10, 2_000_000), default=5000)
    parser.add_argument("--dim", type=cli.DIM, default=64)
    parser.add_argument("--queries", type=cli.int_range(2, 100_000), default=50)
    parser.add_argument("--dir", type=Path, default=REPO_ROOT / ".milvus" / "backups", help="backup root directory")
    parser.add_argument("--seed", type=cli.SEED, default=6)
    args = parser.parse_args(argv)
    args.dir = resources.check_folder_option(args.dir, "--dir")  # before any work: a file, /proc, read-only

    data = make_dataset(args.n, args.dim, args.queries, n_clusters=40, spread=1.0, seed=args.seed)
    target = args.dir / COLLECTION
    with cli.engine(args.uri) as (client, info):
        create_catalog(client, info, data, np.random.default_rng(args.seed))
        topk_before = search_ids(client, COLLECTION, data.queries, K, search_params=SEARCH)
        heading("1. Back up")
        with Stopwatch() as backup_time:
            manifest = backup(client, COLLECTION, target)
        sizes = {f: (target / f).stat().st_size for f in manifest["files"]}
        table([{"file": f, "bytes": sizes[f], "sha256": h[:16] + "…"} for f, h in manifest["files"].items()])
        print(
            f"{manifest['row_count']} rows, index {[i['index_type'] for i in manifest['indexes']]}, "
            f"in {backup_time.seconds:.1f} s → {target}"
        )
        checks = round_trip(
            client, info, target, manifest, topk_before, data, args.n, args.dir / (COLLECTION + "_check")
        )
        damage = damage_demo(client, info, target, args.dir)
        left_behind = client.has_collection(COLLECTION)

    return {
        "headline": f"{manifest['row_count']} rows round-tripped; vector checksum "
        f"{'same' if checks['vector_checksum_same'] else 'DIFFERENT'}; "
        f"top-{K} same for {checks['topk_same']}/{args.queries}",
        "engine": info.kind,
        "rows_before": manifest["row_count"],
        **checks,
        "queries": args.queries,
        "damage": damage,
        "left_behind_after_damage": left_behind,
        "skipped": [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
