"""Step 4: an idempotent consumer, a backup verifier."""

from tests.exercise_answers import Case

STORED = """
def stored_versions(client, collection, ids):
    stored = {}
    for start in range(0, len(ids), 500):
        rows = client.query(collection_name=collection, filter=f"id in {ids[start:start + 500]}",
                            output_fields=["version"])
        stored.update({row["id"]: row["version"] for row in rows})
    return stored
"""

CASES = [
    Case(
        "4.1",
        "insert of newer events (a server keeps a second row)",
        STORED
        + """
def apply_events(client, collection, events):
    newest = {}
    for e in events:
        if e["id"] not in newest or e["version"] > newest[e["id"]]["version"]:
            newest[e["id"]] = e
    stored = stored_versions(client, collection, list(newest))
    changes = [e for key, e in newest.items() if e["version"] > stored.get(key, -1)]
    if changes:
        client.insert(collection_name=collection, data=changes)
""",
        expect="rows 3",
        server=True,
    ),
    Case(
        "4.1",
        "the same id twice in a batch: the last one wins",
        STORED
        + """
def apply_events(client, collection, events):
    stored = stored_versions(client, collection, sorted({e["id"] for e in events}))
    changes = [e for e in events if e["version"] > stored.get(e["id"], -1)]
    for start in range(0, len(changes), 500):
        client.upsert(collection_name=collection, data=changes[start:start + 500])
""",
        expect="do not hold their newest version",
    ),
    Case(
        "4.1",
        "newest per batch, stored versions ignored",
        """
def apply_events(client, collection, events):
    newest = {}
    for e in events:
        if e["id"] not in newest or e["version"] > newest[e["id"]]["version"]:
            newest[e["id"]] = e
    client.upsert(collection_name=collection, data=list(newest.values()))
""",
        expect="do not hold their newest version",
    ),
    Case(
        "4.1",
        "delete, then insert only what is newer, 100 at a time",
        STORED
        + """
def apply_events(client, collection, events):
    newest = {}
    for e in events:
        if e["version"] > newest.get(e["id"], {"version": -1})["version"]:
            newest[e["id"]] = e
    stored = stored_versions(client, collection, list(newest))
    changes = [e for key, e in newest.items() if e["version"] >= stored.get(key, -1)]
    for start in range(0, len(changes), 100):
        batch = changes[start:start + 100]
        client.delete(collection_name=collection, ids=[e["id"] for e in batch])
        client.insert(collection_name=collection, data=batch)
""",
        server=True,
    ),
    Case(
        "4.2",
        "a set",
        """
import hashlib, json
def damaged_files(folder):
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    return {n for n, d in manifest.items() if not (folder / n).is_file()
            or hashlib.sha256((folder / n).read_bytes()).hexdigest() != d}
""",
        expect="returned a set",
    ),
    Case(
        "4.2",
        "manifest order, not sorted",
        """
import hashlib, json
def damaged_files(folder):
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    return [n for n, d in manifest.items() if not (folder / n).is_file()
            or hashlib.sha256((folder / n).read_bytes()).hexdigest() != d]
""",
        expect="not sorted",
    ),
    Case(
        "4.2",
        "missing files overlooked",
        """
import hashlib, json
def damaged_files(folder):
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    return sorted(n for n, d in manifest.items() if (folder / n).is_file()
                  and hashlib.sha256((folder / n).read_bytes()).hexdigest() != d)
""",
        expect="damaged files not reported",
    ),
    Case(
        "4.2",
        "every file in the folder",
        """
import hashlib, json
def damaged_files(folder):
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    names = {p.name for p in folder.iterdir() if p.name != "manifest.json"} | set(manifest)
    return sorted(n for n in names if not (folder / n).is_file()
            or hashlib.sha256((folder / n).read_bytes()).hexdigest() != manifest.get(n))
""",
        expect="'notes.txt'",
    ),
    Case(
        "4.2",
        "sizes only",
        """
import json
def damaged_files(folder):
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    return sorted(n for n in manifest if not (folder / n).is_file() or (folder / n).stat().st_size == 0)
""",
        expect="damaged files not reported",
    ),
    Case(
        "4.2",
        "hashed in chunks, os.path",
        """
import hashlib, json, os
def damaged_files(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)["files"]
    bad = []
    for name in sorted(manifest):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            bad.append(name)
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1024), b""):
                digest.update(chunk)
        if digest.hexdigest() != manifest[name]:
            bad.append(name)
    return bad
""",
    ),
]

CASES += [
    Case(
        "4.1",
        "plain upsert: a replayed old event overwrites a newer one",
        "def apply_events(client, collection, events):\n    client.upsert(collection_name=collection, data=events)\n",
        expect="do not hold their newest version",
    ),
]
