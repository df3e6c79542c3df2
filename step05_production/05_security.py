# %% [markdown]
"""
Security: authentication, least-privilege RBAC verified by behaviour, and TLS — on a real server.

What you learn
  - the default account (root / Milvus) is changed first; the new secret
    lives only in memory or the environment, and every log line redacts it;
  - a role with exactly the privileges a search service needs (Search and
    Query on one collection), a user holding it, and the proof: that user's
    search works, its insert and its drop are refused;
  - one-way TLS with a certificate this lesson makes (openssl): a client
    that trusts the certificate connects; a plaintext client and a client
    that does not trust it are refused; so is the old root password.

The lesson starts its own embedded Milvus server with `--authorization-enabled
true --tls-mode 1` at MILVUS_URI's port (run it while no other embedded server is
running: two embedded servers cannot share etcd's ports) and stops it at the end.
On Milvus Lite there are no users: the lesson skips, naming the capability.

Prerequisites  Step 1; make server-venv
Run            MILVUS_URI=http://127.0.0.1:19541 python step05_production/05_security.py
Docs           docs/step05_production.md, section "05 보안"
"""

# %%
from __future__ import annotations

import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from common import cli
from common.config import is_lite_uri, load_settings, redact, resolve_uri
from common.connection import quiet_pymilvus, server_address
from common.embedded_server import DEFAULT_BIN, EmbeddedServer, port_open
from common.engine import detect
from common.errors import CourseError
from common.report import heading, table
from common.rows import vector_rows

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

RUN_ALONE = "MILVUS_URI=http://127.0.0.1:19541 python step05_production/05_security.py"
HEALTH_PORT = 9091  # every embedded server serves /healthz here: a second one cannot start beside it
COLLECTION = "s5_l5_docs"
ROLE, USER = "search_reader", "search_app"
SERVER_NAME = "localhost"
DIM = 16


# %% [markdown]
# ## A certificate, and clients that trust it or not


# %%
def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (valid 2 days)."""
    pem, key = directory / "server.pem", directory / "server.key"
    done = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(pem),
            "-days",
            "2",
            "-subj",
            f"/CN={SERVER_NAME}",
            "-addext",
            f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise CourseError(f"openssl could not make a certificate: {done.stderr.strip()[:200]}", "install openssl")
    return pem, key


def tls_client(port: int, token: str, pem: Path | None, timeout: float = 5) -> MilvusClient:
    """A dedicated connection (pymilvus would otherwise reuse a pooled channel for the same address and token)."""
    kwargs = {"server_pem_path": str(pem), "server_name": SERVER_NAME} if pem else {}
    scheme = "https" if pem else "http"
    client = MilvusClient(
        uri=f"{scheme}://{SERVER_NAME}:{port}", token=token, timeout=timeout, dedicated=True, **kwargs
    )
    client.list_collections(timeout=timeout)  # fail here, not later
    return client


def untrusting_client(port: int, token: str) -> None:
    """https without our certificate: the system's CAs do not know the self-signed issuer."""
    client = MilvusClient(uri=f"https://{SERVER_NAME}:{port}", token=token, timeout=3, dedicated=True)
    client.list_collections(timeout=3)


def attempt(action) -> tuple[bool, str]:
    """Run ``action``; return (succeeded, short outcome)."""
    with quiet_pymilvus():
        try:
            result = action()
            return True, f"ok{'' if result is None else f' ({result})'}"
        except MilvusException as exc:
            return False, "refused: " + exc.message.strip().splitlines()[0][:90]
        except grpc.RpcError as exc:  # some denials arrive as raw gRPC errors (PERMISSION_DENIED)
            return False, f"refused: {exc.code().name}: {exc.details()[:80]}"


# %% [markdown]
# ## A server with authentication and TLS


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    args = parser.parse_args(argv)
    uri = resolve_uri(args.uri) if args.uri else load_settings().milvus_uri
    if is_lite_uri(uri):
        reason = "skipped: needs rbac (have Milvus Lite): Lite has no users or roles"
        print(f"{reason}. Run with MILVUS_URI=http://127.0.0.1:19541 to start a secured server.")
        return {"headline": reason, "engine": "lite", "skipped": [f"security: {reason}"]}
    if not DEFAULT_BIN.exists():
        raise CourseError("the embedded milvus-server is not installed", "run `make server-venv`")
    _, port = server_address(uri)
    busy = [p for p in (port, HEALTH_PORT) if port_open(p)]
    if busy:  # e.g. `make run` against `make server`: that server is in use, and this lesson needs its own
        reason = (
            f"skipped: needs a secured server of its own (have 127.0.0.1:{busy[0]} in use by another server); "
            f"run it alone: {RUN_ALONE}"
        )
        print(reason)
        return {"headline": reason, "engine": "server", "skipped": [f"security: {reason}"]}

    with tempfile.TemporaryDirectory(prefix="milvus-secure-") as tmp:
        pem, key = make_certificate(Path(tmp))
        server = EmbeddedServer(
            data_dir=Path(tmp) / "data",
            port=port,
            extra_args=[
                "--authorization-enabled",
                "true",
                "--tls-mode",
                "1",
                "--server-pem-path",
                str(pem),
                "--server-key-path",
                str(key),
            ],
        )
        heading(f"1. A server with authentication and TLS on 127.0.0.1:{port}")
        with cli.sigterm_as_interrupt():  # a kill of this process must not leave the server running
            try:
                started = time.monotonic()
                server.start()
                print(f"secured server healthy after {time.monotonic() - started:.0f} s")
                result = secure_walkthrough(port, pem)
            finally:
                server.stop()
        print("secured server stopped")
    return {"engine": "server", **result}


# %% [markdown]
# ## A collection and a search-only role


# %%
def create_collection(client, vectors: np.ndarray) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 128}
    )
    client.create_collection(
        collection_name=COLLECTION, schema=schema, index_params=index_params, consistency_level="Strong"
    )
    client.insert(collection_name=COLLECTION, data=vector_rows(vectors, id=range(len(vectors))))
    client.flush(collection_name=COLLECTION)


# docs:begin rbac
def reader_role(client, password: str) -> None:
    """A user whose role may search and query one collection, and nothing else (run as root)."""
    client.create_user(
        user_name=USER,  # the application's own user, never root
        password=password,  # from a secret store or the environment; never in the repo
    )
    client.create_role(
        role_name=ROLE,  # a named set of privileges
    )
    for privilege in ("Search", "Query"):
        client.grant_privilege(
            role_name=ROLE,
            object_type="Collection",  # privileges apply to an object type: Global, Collection, User
            privilege=privilege,  # "Search", "Query", "Insert", ...
            object_name=COLLECTION,  # one collection; "*" would mean every collection
        )
    client.grant_role(user_name=USER, role_name=ROLE)


# docs:end


# %% [markdown]
# ## The walkthrough: root's password, least privilege, TLS


# %%
def secure_walkthrough(port: int, pem: Path) -> dict:
    root, old_password = change_root_password(port, pem)
    app_password, behaviour = least_privilege(root, port, pem)
    tls = tls_section(port, pem, app_password, old_password)
    root.close()
    allowed_ok = behaviour["search"][0] and behaviour["query"][0]
    refused_ok = not any(behaviour[a][0] for a in ("insert", "drop_collection", "create_user"))
    return {
        "headline": f"reader: search/query {'ok' if allowed_ok else 'FAILED'}, writes refused {refused_ok}; "
        f"plaintext refused {not tls['plaintext client (http://)'][0]}",
        "behaviour": {action: ok for action, (ok, _) in behaviour.items()},
        "insert_outcome": behaviour["insert"][1],
        "tls_client_ok": tls["TLS client trusting the certificate"][0],
        "plaintext_refused": not tls["plaintext client (http://)"][0],
        "untrusting_refused": not tls["TLS client that does not trust it"][0],
        "old_root_password_refused": not old_password,
        "skipped": [],
    }


def change_root_password(port: int, pem: Path) -> tuple[MilvusClient, bool]:
    """Root's default password replaced first; returns root's client and whether the old password still works."""
    new_root = secrets.token_urlsafe(16)  # in a deployment: from a secret store or the environment, never the repo
    with quiet_pymilvus():
        root = tls_client(port, "root:Milvus", pem)
        root.update_password("root", "Milvus", new_root)
        root.close()
        root = tls_client(port, f"root:{new_root}", pem)
        print(f"engine: {detect(root, f'https://{SERVER_NAME}:{port}').label} at https://{SERVER_NAME}:{port}")
    old_password, _ = attempt(lambda: tls_client(port, "root:Milvus", pem, timeout=3))
    print(f"root password changed; token now {redact(f'root:{new_root}')} (the secret is never printed)")
    return root, old_password


def least_privilege(root, port: int, pem: Path) -> tuple[str, dict]:
    """A search-only user: what it may do and what it is refused, tried one by one."""
    heading("2. Least privilege: a role that may only search and query one collection")
    vectors = np.random.default_rng(0).standard_normal((500, DIM)).astype(np.float32)
    create_collection(root, vectors)
    app_password = secrets.token_urlsafe(16)
    reader_role(root, app_password)
    granted = root.describe_role(ROLE)
    print(
        f"role {ROLE}: {sorted({p['privilege'] for p in granted.get('privileges', [])})} on {COLLECTION}; "
        f"user {USER} token {redact(f'{USER}:{app_password}')}"
    )

    app = tls_client(port, f"{USER}:{app_password}", pem)
    behaviour = {
        "search": attempt(lambda: len(app.search(COLLECTION, [vectors[0].tolist()], limit=3)[0]) and "3 hits"),
        "query": attempt(lambda: len(app.query(COLLECTION, filter="id < 5", output_fields=["id"]))),
        "insert": attempt(lambda: app.insert(COLLECTION, [{"id": 10_000, "embedding": vectors[0].tolist()}]) and None),
        "drop_collection": attempt(lambda: app.drop_collection(COLLECTION)),
        "create_user": attempt(lambda: app.create_user("intruder", "pw-123456")),
    }
    table(
        [
            {
                "as user": USER,
                "action": action,
                "expected": "allowed" if action in ("search", "query") else "refused",
                "outcome": outcome,
            }
            for action, (_, outcome) in behaviour.items()
        ]
    )
    app.close()
    return app_password, behaviour


def tls_section(port: int, pem: Path, app_password: str, old_password: bool) -> dict:
    heading("3. TLS: who may connect")
    tls = {
        "TLS client trusting the certificate": attempt(lambda: tls_client(port, f"{USER}:{app_password}", pem).close()),
        "plaintext client (http://)": attempt(lambda: tls_client(port, f"{USER}:{app_password}", None, timeout=3)),
        "TLS client that does not trust it": attempt(lambda: untrusting_client(port, f"{USER}:{app_password}")),
        "root with the old default password": (old_password, "refused" if not old_password else "accepted"),
    }
    table([{"client": name, "connected": ok, "outcome": outcome} for name, (ok, outcome) in tls.items()])
    return tls


# %%
if __name__ == "__main__":
    cli.run(main)
