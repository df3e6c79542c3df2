"""Exercise 4.2 — a backup verifier that detects a corrupt file.

KO: 백업 폴더에는 manifest.json({"files": {파일 이름: sha256 16진 문자열}})과 파일들이 있습니다. 내용이
    manifest와 다르거나 없어진 파일의 이름을 정렬해 돌려주세요(문제가 없으면 빈 목록).
EN: A backup folder holds manifest.json ({"files": {name: sha256 hex}}) and the files. Return the sorted names of
    the files that are missing or whose content does not match the manifest ([] when all are intact).

Check it: make check EX=4.2
"""

import hashlib
import json
from pathlib import Path


def damaged_files(folder: Path) -> list[str]:
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    damaged = []
    for name, digest in manifest.items():
        path = folder / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            damaged.append(name)
    return sorted(damaged)
