# %% [markdown]
"""
Bulk import: write import files offline with LocalBulkWriter, prove them, and import them where the server can.

What you learn
  - `pymilvus.bulk_writer.LocalBulkWriter` turns rows into import files (Parquet here, JSON for older
    servers) checked against the collection's schema, offline: no Milvus is needed to write them;
  - how to prove a batch before importing it: read the files back (pyarrow, json) and compare ids,
    scalars and a vector checksum with the rows you meant to write;
  - the import itself is a server job that reads files from the server's own storage: the REST job API
    (`/v2/vectordb/jobs/import/create`, Milvus 2.4+; files uploaded to its MinIO/S3 bucket first) or, on
    2.3, `utility.do_bulk_insert`; measured in rows/s next to batched `insert` calls;
  - Milvus Lite has no import: the section says so and the files stay on disk for a server.

Prerequisites  Step 1 (1.4), 4.1
Run            python step04_advanced/07_bulk_import.py [--uri URI] [--n 10000] [--dim 64] [--keep DIR]
Docs           docs/step04_advanced.md, section "07 대량 가져오기"
"""

# %%
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import cli
from common.config import REPO_ROOT, load_settings, read_env_file, resolve_uri
from common.connection import quiet_pymilvus
from common.engine import REFUSED
from common.errors import BadInput
from common.metrics import Stopwatch
from common.report import heading, table
from common.rows import count_rows, drop_if_exists

import numpy as np
import pyarrow.parquet as pq
from minio import Minio
from pymilvus import DataType, MilvusClient, connections, utility

ROOT_HANDLERS = list(logging.getLogger().handlers)  # as they were before pymilvus.bulk_writer was imported
from pymilvus.bulk_writer import (  # noqa: E402 (after ROOT_HANDLERS: the import adds a root handler)
    BulkFileType,
    LocalBulkWriter,
    bulk_import,
    get_import_progress,
    list_import_jobs,
)

PREFIX = "s4_l7_"
TARGET = PREFIX + "imported"
BASELINE = PREFIX + "inserted"
BUCKET = "a-bucket"  # the bucket docker-compose.yml's Milvus reads (minio.bucketName)


def quiet_bulk_writer_logs() -> None:
    """Importing pymilvus.bulk_writer calls logging.basicConfig(level=INFO) for the whole process, and the writer
    logs each file at DEBUG: undo both, so the lesson prints what it prints without it."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h not in ROOT_HANDLERS]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pymilvus.bulk_writer"):
            logging.getLogger(name).setLevel(logging.WARNING)


# %% [markdown]
# ## The catalog: schema and rows


# %%
def catalog_schema(dim: int):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="sku", datatype=DataType.VARCHAR, max_length=32)
    schema.add_field(field_name="price", datatype=DataType.FLOAT)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    return schema


def catalog_rows(n: int, dim: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    prices = np.round(rng.uniform(1, 500, n), 2).astype(np.float32)
    return [
        {"id": i, "sku": f"SKU-{i:07d}", "price": float(prices[i]), "embedding": vectors[i].tolist()} for i in range(n)
    ]


# %% [markdown]
# ## Write import files offline, and prove them


# %%
# docs:begin write
def write_import_files(schema, rows: list[dict], folder: Path, file_type, chunk_mb: int) -> list[list[str]]:
    """Rows → import files, validated against the schema on the way (a bad row raises before any file is used)."""
    with LocalBulkWriter(
        schema=schema,  # the collection's schema: types and dims are checked per row
        local_path=str(folder),  # the writer makes a fresh sub-folder (a UUID) inside it
        file_type=file_type,  # BulkFileType.PARQUET (2.4+), JSON (every version with import)
        chunk_size=chunk_mb * 1024 * 1024,  # a new file each time the buffer reaches this size
    ) as writer:
        for row in rows:
            writer.append_row(row)
        writer.commit()  # flushes the buffer to the last file
        return writer.batch_files  # one list of files per import unit


# docs:end


def read_back(files: list[list[str]]) -> list[dict]:
    """What the files really hold, read with pyarrow (Parquet) or json (JSON), in id order."""
    rows = []
    for path in (p for unit in files for p in unit):
        if path.endswith(".parquet"):
            rows += pq.read_table(path).to_pylist()
        else:
            rows += json.loads(Path(path).read_text())["rows"]
    return sorted(rows, key=lambda row: row["id"])


def fingerprint(rows: list[dict]) -> dict:
    vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
    return {
        "rows": len(rows),
        "ids": [row["id"] for row in rows],
        "scalars": [(row["sku"], round(float(row["price"]), 2)) for row in rows],
        "vector_sum": float(vectors.astype(np.float64).sum()),
        "vectors": vectors,
    }


def same_batch(written: dict, wanted: dict) -> dict:
    return {
        "rows": written["rows"] == wanted["rows"],
        "ids": written["ids"] == wanted["ids"],
        "scalars": written["scalars"] == wanted["scalars"],
        "vectors": bool(np.array_equal(written["vectors"], wanted["vectors"])),
    }


def writer_section(args, rows, folder: Path) -> tuple[dict, list[list[str]]]:
    heading(f"1. Write {len(rows):,} rows into import files, offline (LocalBulkWriter)")
    quiet_bulk_writer_logs()
    schema = catalog_schema(args.dim)
    with Stopwatch() as parquet_time:
        parquet = write_import_files(schema, rows, folder, BulkFileType.PARQUET, args.chunk_mb)
    with Stopwatch() as json_time:
        json_files = write_import_files(schema, rows, folder, BulkFileType.JSON, args.chunk_mb)
    wanted = fingerprint(rows)
    report = []
    for label, files, seconds in (("Parquet", parquet, parquet_time.seconds), ("JSON", json_files, json_time.seconds)):
        checks = same_batch(fingerprint(read_back(files)), wanted)
        size = sum(Path(p).stat().st_size for unit in files for p in unit)
        report.append(
            {
                "format": label,
                "files": sum(len(u) for u in files),
                "MiB": size / 2**20,
                "rows/s written": len(rows) / seconds,
                **{f"same {k}": v for k, v in checks.items()},
            }
        )
    table(report)
    print(f"files under {folder} (the writer's own sub-folders); read back with pyarrow and json")
    return (
        {"formats": report, "all_equal": all(all(v for k, v in r.items() if k.startswith("same")) for r in report)},
        parquet,
    )


# %% [markdown]
# ## Import requests: over REST, or through the ORM


# %%
# docs:begin import
def import_over_rest(uri: str, keys: list[list[str]]) -> str:
    """Milvus 2.4+: one import job over the REST API; the files are object keys in the server's bucket."""
    response = bulk_import(
        url=uri,  # the server's address: REST is served on the gRPC port (19530)
        collection_name=TARGET,
        files=keys,  # one list per unit: a Parquet/JSON file, or a set of .npy files
    )
    return response.json()["data"]["jobId"]


def wait_for_rest_import(uri: str, job_id: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = get_import_progress(url=uri, job_id=job_id).json()["data"]
        if data["state"] in ("Completed", "Failed"):
            return data
        time.sleep(0.5)
    return {"state": f"still running after {timeout_s:.0f} s"}


def import_with_orm(uri: str, files: list[list[str]], timeout_s: float) -> dict:
    """Milvus 2.2/2.3: utility.do_bulk_insert, one task per file unit; the server reads the paths from its own storage
    (the embedded server's local storage takes a local path; a MinIO-backed server takes an object key)."""
    connections.connect(alias="bulk", uri=uri)
    try:
        tasks = [utility.do_bulk_insert(collection_name=TARGET, files=unit, using="bulk") for unit in files]
        deadline, states = time.monotonic() + timeout_s, {}
        while time.monotonic() < deadline and len(states) < len(tasks):
            for task in tasks:
                state = utility.get_bulk_insert_state(task_id=task, using="bulk")
                if state.state_name in ("Completed", "Failed"):
                    states[task] = state
            time.sleep(0.5)
    finally:
        connections.disconnect("bulk")
    failed = [s.failed_reason for s in states.values() if s.state_name == "Failed"]
    return {
        "state": "Failed" if failed else "Completed" if len(states) == len(tasks) else "still running",
        "reason": failed[:1],
    }


# docs:end


# %% [markdown]
# ## Import the files; compare with batched insert calls


# %%
def create_target(client, name: str, dim: int) -> None:
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="L2")
    drop_if_exists(client, name)
    client.create_collection(
        collection_name=name, schema=catalog_schema(dim), index_params=index_params, consistency_level="Strong"
    )


def minio_login() -> tuple[str, str]:
    """The login docker-compose.yml gives its MinIO: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from the environment
    or .env (`make secrets` writes them). There is no default login to fall back on."""
    saved = read_env_file(REPO_ROOT / ".env")
    user, password = (os.environ.get(key) or saved.get(key, "") for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"))
    if not (user and password):
        raise BadInput("MINIO_ROOT_USER and MINIO_ROOT_PASSWORD are not set", "make secrets writes them to .env")
    return user, password


def upload(files: list[list[str]], endpoint: str, prefix: str) -> list[list[str]]:
    """Put the files in the bucket the server reads (docker-compose.yml's MinIO); returns their object keys."""
    user, password = minio_login()
    store = Minio(endpoint, access_key=user, secret_key=password, secure=False)
    keys = []
    for unit in files:
        keys.append([f"{prefix}/{Path(path).name}" for path in unit])
        for path, key in zip(unit, keys[-1]):
            store.fput_object(BUCKET, key, path)
    return keys


def baseline_insert(client, rows: list[dict], dim: int, batch: int) -> float:
    create_target(client, BASELINE, dim)
    with Stopwatch() as took:
        for start in range(0, len(rows), batch):
            client.insert(collection_name=BASELINE, data=rows[start : start + batch])
        client.flush(collection_name=BASELINE)
    drop_if_exists(client, BASELINE)
    return len(rows) / took.seconds


def run_import(client, info, args, parquet) -> dict:
    """The engine's import path, timed from the request to the rows being countable."""
    create_target(client, TARGET, args.dim)
    with Stopwatch() as took:
        if info.has("bulk_import"):
            list_import_jobs(url=args.uri_resolved, collection_name=TARGET)  # is the REST job API there at all?
            try:
                keys = upload(parquet, args.minio, f"course-bulk/{Path(parquet[0][0]).parent.name}")
            except Exception as exc:  # no MinIO reachable from here: the learner's setup, not the server
                return {
                    "skipped": f"skipped: needs MinIO at {args.minio} (publish port 9000 of docker-compose.yml's "
                    f"minio service): {str(exc).splitlines()[0][:80]}"
                }
            outcome = wait_for_rest_import(args.uri_resolved, import_over_rest(args.uri_resolved, keys), args.timeout)
        else:
            outcome = import_with_orm(args.uri_resolved, parquet, args.timeout)
    with Stopwatch() as visible:  # "Completed" can come before the imported segments are loaded for reading
        rows = count_rows(client, TARGET)
        deadline = time.monotonic() + args.timeout
        while outcome["state"] == "Completed" and rows < args.n and time.monotonic() < deadline:
            time.sleep(0.5)
            rows = count_rows(client, TARGET)
    seconds = took.seconds + visible.seconds
    return {
        "state": outcome["state"],
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "visible_after_s": visible.seconds,
        "reason": outcome.get("reason"),
    }


def import_section(client, info, args, rows, parquet) -> tuple[dict, list[str]]:
    heading("2. Import the files; compare with batched insert calls")
    insert_rate = baseline_insert(client, rows, args.dim, 1000)
    print(f"insert, 1,000 rows per call, then flush: {insert_rate:,.0f} rows/s")
    if not (info.has("bulk_import") or info.has("bulk_insert")):
        line = info.skip_reason("bulk_import")
        print(line + f": the files above are ready for a server ({sum(len(u) for u in parquet)} Parquet files)")
        return {"insert_rows_per_s": insert_rate}, [line]
    try:
        with quiet_pymilvus():  # the refusal is reported below; pymilvus would log a traceback
            done = run_import(client, info, args, parquet)
    except REFUSED as exc:
        line = "bulk_import: " + info.refusal(exc)
        print(line)
        return {"insert_rows_per_s": insert_rate}, [line]
    finally:
        drop_if_exists(client, TARGET)
    if "skipped" in done:
        print(done["skipped"])
        return {"insert_rows_per_s": insert_rate}, [done["skipped"]]
    table(
        [
            {
                "path": "import job",
                "state": done["state"],
                "rows": done["rows"],
                "seconds": done["seconds"],
                "rows/s": done["rows_per_s"],
            },
            {
                "path": "insert calls",
                "state": "-",
                "rows": len(rows),
                "seconds": len(rows) / insert_rate,
                "rows/s": insert_rate,
            },
        ]
    )
    print(f"the job said Completed; all rows were countable {done['visible_after_s']:.1f} s later")
    if done["reason"]:
        print(f"import failed: {done['reason'][0]}")
    return {"insert_rows_per_s": insert_rate, **done}, []


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(100, 2_000_000), default=10_000, help="rows (default 10000)")
    parser.add_argument("--dim", type=cli.DIM, default=64, help="vector dimension (default 64)")
    parser.add_argument("--chunk-mb", type=cli.int_range(1, 1024), default=2, help="MiB per file (default 2)")
    parser.add_argument("--timeout", type=cli.float_range(1, 3600), default=60, help="seconds to wait for import")
    parser.add_argument("--minio", default="localhost:9000", help="MinIO endpoint the server reads (2.4+ import)")
    parser.add_argument("--keep", type=Path, default=None, help="write the files here and keep them")
    parser.add_argument("--seed", type=cli.SEED, default=47)
    args = parser.parse_args(argv)
    rows = catalog_rows(args.n, args.dim, args.seed)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="course-bulk-"))
    try:
        written, parquet = writer_section(args, rows, folder)
        with cli.engine(args.uri) as (client, info):
            args.uri_resolved = resolve_uri(args.uri) if args.uri else load_settings().milvus_uri
            imported, lines = import_section(client, info, args, rows, parquet)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)  # our own temporary folder, never a user's
    return {
        "headline": f"{args.n:,} rows written to {sum(len(u) for u in parquet)} Parquet files, read back equal: "
        f"{written['all_equal']}; import: {imported.get('state', 'not on this engine')}",
        "engine": info.kind,
        "written": written,
        "imported": imported,
        "skipped": [line for line in lines if line.startswith("skipped")],
        "refused": [line for line in lines if "refused by" in line],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
