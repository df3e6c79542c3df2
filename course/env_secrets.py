"""Random credentials for the compose files, written into ``.env`` (``make secrets``).

    python -m course.env_secrets          # fills every empty secret in .env, keeps what is set

The compose files give no secret a default (``${MINIO_ROOT_PASSWORD:?...}``): docker compose refuses to
start until ``.env`` has them. This fills the empty ones with random values and never overwrites a value
that is set, so running it again changes nothing (a changed MinIO or Milvus root password would lock the
existing volumes out). ``MILVUS_TOKEN`` is set to ``root:<MILVUS_ROOT_PASSWORD>`` when it is empty, so the
lessons log in to the compose Milvus with the password it was started with.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MILVUS_ROOT_PASSWORD", "GRAFANA_ADMIN_PASSWORD")


def new_value(key: str) -> str:
    if key == "MINIO_ROOT_USER":
        return "course-" + secrets.token_hex(4)
    return secrets.token_urlsafe(24)  # letters, digits, - and _: safe in .env, YAML and a token


def current_values(text: str) -> dict[str, str]:
    """KEY=value pairs of an .env text (the last one wins, as python-dotenv reads it)."""
    values = {}
    for line in text.splitlines():
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if match:
            values[match.group(1)] = match.group(2).strip("'\"")
    return values


def fill(env_file: Path) -> list[str]:
    """Add a random value for every empty secret in ``env_file``; return the keys written."""
    text = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
    values = current_values(text)
    chosen = {key: new_value(key) for key in SECRETS if not values.get(key)}
    root_password = values.get("MILVUS_ROOT_PASSWORD") or chosen.get("MILVUS_ROOT_PASSWORD")
    if not values.get("MILVUS_TOKEN"):
        chosen["MILVUS_TOKEN"] = f"root:{root_password}"
    lines = text.splitlines()
    for key, value in chosen.items():
        for i, line in enumerate(lines):  # an empty `KEY=` line (as .env.example has) is filled in place
            if re.match(rf"\s*(?:export\s+)?{key}\s*=\s*(['\"]{{2}})?\s*$", line):
                lines[i] = f"{key}={value}"
                break
        else:
            lines.append(f"{key}={value}")
    if chosen:
        tmp = env_file.with_name(env_file.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)  # secrets: readable by their owner only
        tmp.replace(env_file)
    return list(chosen)


def main(argv: list[str] | None = None) -> int:
    env_file = Path(argv[0]) if argv else REPO_ROOT / ".env"
    written = fill(env_file)
    if written:
        print(f"{env_file}: random values written for {', '.join(written)} (values that were set are unchanged)")
    else:
        print(f"{env_file}: every secret is already set; nothing changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
