"""Checks for steps 3 and 4: recommendations, an anomaly score, an idempotent consumer, a backup verifier.

Each check states, above it, what a correct answer must satisfy; the check measures every clause.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from course.grading.common import Context, Failed, Problem, Result, all_rows, fill, fresh, is_int, kind, server_rows
from course.grading.sandbox import CLIENT, path_argument
from course.grading.steps12 import ranked_problems

import numpy as np
from pymilvus import DataType


# 3.1 — correct when: for every user and every k asked (1, 10, one drawn per run) the answer is a list of
# exactly k distinct int ids, largest inner product first, none of them seen, the best k among the unseen
# items (recall ≥ 0.99); seen items are left out by the search's filter (the searches carry one), and the
# search uses the index's metric, IP (a server refuses another one).
def check_recommend(ctx: Context) -> Result:
    rng = ctx.rng
    items = rng.standard_normal((2000, 16)).astype(np.float32)
    users = rng.standard_normal((12, 16)).astype(np.float32)
    name = "ex_3_1"
    fresh(ctx.client, name, 16, metric="IP")
    fill(ctx.client, name, items)
    ctx.client.load_collection(name)
    answer, problems, recalls = ctx.answer(), [], []
    for u, user in enumerate(users):
        k = (1, 10, int(rng.integers(5, 21)))[u % 3]
        order = np.argsort(-(items @ user)).tolist()
        seen = sorted(rng.choice(order[:40], size=15, replace=False).tolist() + rng.choice(2000, 5).tolist())
        found = answer.call(CLIENT, name, user.tolist(), seen, k, timeout=ctx.timeout)
        label = f"user {u}, k={k}"
        problems += ranked_problems(found, k, len(items), lambda ids, user=user: items[ids] @ user, "best first", label)
        if problems:
            break
        if set(found) & set(seen):
            shown = sorted(set(found) & set(seen))
            raise Failed(
                f"{label}: returned seen items {shown[:5]}", f"{label}: 이미 본 아이템 {shown[:5]}을(를) 돌려줌"
            )
        unseen = [i for i in order if i not in set(seen)][:k]
        recalls.append(len(set(found) & set(unseen)) / k)
    searches = [c for c in answer.calls if c["method"] == "search"]
    if not problems and searches and not any(c.get("filter") for c in searches):
        problems.append(
            Problem(
                "seen items were left out in Python, not by the search's filter",
                "본 아이템을 검색 필터가 아니라 파이썬에서 뺐습니다",
            )
        )
    recall = float(np.mean(recalls)) if recalls else 0.0
    if recalls and recall < 0.99:
        problems.append(
            Problem(f"recall among unseen {recall:.3f} < 0.99", f"보지 않은 아이템 중 recall {recall:.3f} < 0.99")
        )
    return Result(f"recall@k among unseen {recall:.3f}", "exactly k unseen ids, best first, by the filter", problems)


# 3.2 — correct when: for every k asked (5 and one drawn per run) the answer is a list of floats, one per point,
# each the L2 distance (not squared) to the point's k-th nearest reference point within 1e-3 of exact NumPy,
# so the 10 planted outliers (at random positions) score highest; the search uses the index's metric, L2.
def check_anomaly(ctx: Context) -> Result:
    rng = ctx.rng
    reference = rng.normal(0, 1, size=(3000, 8)).astype(np.float32)
    points = np.vstack([rng.normal(0, 1, size=(190, 8)), rng.normal(0, 1, size=(10, 8)) + 6]).astype(np.float32)
    shuffle = rng.permutation(200)
    points, outliers = points[shuffle], set(np.flatnonzero(shuffle >= 190).tolist())
    name = "ex_3_2"
    fresh(ctx.client, name, 8, metric="L2")
    fill(ctx.client, name, reference)
    ctx.client.load_collection(name)
    distances = np.sort(np.linalg.norm(points[:, None] - reference[None], axis=2), axis=1)
    answer, problems, errors = ctx.answer(), [], {}
    for k in (5, int(rng.integers(2, 10))):
        scores = answer.call(CLIENT, name, points.tolist(), k, timeout=ctx.timeout)
        if not isinstance(scores, list) or len(scores) != len(points):
            raise Failed(
                f"k={k}: returned {kind(scores)}, expected a list of {len(points)} floats (one per point)",
                f"k={k}: {kind(scores)}을(를) 돌려줌: 점마다 float 하나, {len(points)}개가 필요합니다",
            )
        bad = next((s for s in scores if not isinstance(s, (int, float)) or isinstance(s, bool)), None)
        if bad is not None:
            raise Failed(
                f"k={k}: each score must be a float, got {kind(bad)}", f"k={k}: 점수는 float여야 합니다 ({kind(bad)})"
            )
        scores, exact = np.asarray(scores, dtype=np.float64), distances[:, k - 1]
        worst = int(np.argmax(np.abs(scores - exact)))
        errors[k] = float(abs(scores[worst] - exact[worst]))
        if errors[k] > 1e-3:
            problems.append(
                Problem(
                    f"k={k}: point {worst} scored {scores[worst]:.4f}, its distance to the k-th neighbour is "
                    f"{exact[worst]:.4f}",
                    f"k={k}: 점 {worst}의 점수 {scores[worst]:.4f}, k번째 이웃까지의 거리는 {exact[worst]:.4f}",
                )
            )
            break
        caught = len(set(np.argsort(-scores)[:10].tolist()) & outliers)
        if caught < 10:
            problems.append(
                Problem(f"k={k}: outliers in the top 10 {caught}/10", f"k={k}: 상위 10위 안의 이상점 {caught}/10")
            )
    measured = ", ".join(f"k={k}: max error {e:.1e}" for k, e in errors.items()) or "not measured"
    return Result(measured, "error ≤ 1e-3 for each k, 10/10 outliers on top", problems)


# 4.1 — correct when: after any sequence of redelivered batches (shuffled, with replays of old versions and the
# same id twice in one batch, newer first or older first) each id has exactly one row — counted as a server
# stores them: an insert of a key already stored is a second row there (Milvus Lite overwrites) — holding the
# highest version seen for it and that version's embedding.
def event_batches(rng, n: int, vectors) -> list[list[dict]]:
    def event(i, version):
        return {"id": int(i), "version": version, "embedding": vectors[version][i].tolist()}

    ids = rng.permutation(n)
    updated, replayed = ids[:50], np.concatenate([ids[:50], ids[200:250]])
    twice_new_first, twice_old_first = ids[100:120], ids[120:130]
    batches = [
        [event(i, 1) for i in ids],
        [event(i, 2) for i in rng.permutation(updated)],
        [event(i, 1) for i in rng.permutation(replayed)],  # a crash: replayed from an older offset
        [e for i in twice_new_first for e in (event(i, 3), event(i, 2))]  # the same id twice in one batch
        + [e for i in twice_old_first for e in (event(i, 2), event(i, 3))]
        + [event(i, 2) for i in updated[:10]],  # a redelivery of the same version
    ]
    return batches


def check_idempotent(ctx: Context) -> Result:
    rng, n, name = ctx.rng, 300, "ex_4_1"
    vectors = {v: rng.standard_normal((n, 8)).astype(np.float32) for v in (1, 2, 3)}
    fresh(ctx.client, name, 8, extra=(("version", DataType.INT64, {}),))
    ctx.client.load_collection(name)
    answer, latest = ctx.answer(), {}
    for batch in event_batches(rng, n, vectors):
        answer.call(CLIENT, name, batch, timeout=ctx.timeout)
        for e in batch:
            if e["version"] > latest.get(e["id"], 0):
                latest[e["id"]] = e["version"]
    rows, lite_extra = server_rows(ctx.client, name, answer.calls)
    stored = {r["id"]: r for r in all_rows(ctx.client, name, ["id", "version", "embedding"])}
    wrong = [i for i in sorted(latest) if stored.get(i, {}).get("version") != latest[i]]
    off = [i for i in sorted(latest) if i in stored and i not in wrong]
    off = [i for i in off if not np.allclose(stored[i]["embedding"], vectors[latest[i]][i], atol=1e-5)]
    problems = []
    if rows != n:
        why = (
            f" ({lite_extra} inserts of ids already stored: a Milvus server keeps both rows, Milvus Lite overwrites)"
            if lite_extra
            else ""
        )
        problems.append(
            Problem(
                f"rows {rows}/{n}{why}",
                f"행 {rows}/{n}" + (" (이미 저장된 id를 insert: 서버에서는 두 행)" if why else ""),
            )
        )
    if wrong:
        i = wrong[0]
        problems.append(
            Problem(
                f"{len(wrong)} ids do not hold their newest version (id {i}: {stored.get(i, {}).get('version')}, "
                f"expected {latest[i]})",
                f"{len(wrong)}개 id가 가장 새 version을 갖고 있지 않습니다 (id {i}: 기대 {latest[i]})",
            )
        )
    if off:
        problems.append(
            Problem(
                f"{len(off)} ids hold another version's embedding (id {off[0]})",
                f"{len(off)}개 id의 벡터가 다른 version의 것입니다",
            )
        )
    notes = ["inserts of stored ids counted as a server stores them"] if lite_extra else []
    return Result(f"rows {rows}/{n}, newest version kept {n - len(wrong)}/{n}", f"{n} rows, {n}/{n}", problems, notes)


# 4.2 — correct when: the answer returns a list (not a set or tuple) of str, sorted, naming exactly the files in
# the manifest that are missing or whose content differs (a flipped byte, a truncated file, another file's
# content), [] for an intact backup, and never a file that is not in the manifest.
def write_backup(folder: Path, rng) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"segment_{i}.bin" for i in rng.permutation(20)[: int(rng.integers(6, 9))]]
    files = {name: rng.bytes(int(rng.integers(1000, 5000))) for name in names}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    order = sorted(files, reverse=True)  # the manifest's order is not the sorted order
    manifest = {"files": {name: hashlib.sha256(files[name]).hexdigest() for name in order}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "notes.txt").write_text("not part of the backup")
    return files


def damage(folder: Path, files: dict[str, bytes], rng) -> list[str]:
    flipped, missing, truncated, swapped = rng.choice(sorted(files), size=4, replace=False).tolist()
    data = bytearray(files[flipped])
    data[int(rng.integers(0, len(data)))] ^= 0xFF
    (folder / flipped).write_bytes(bytes(data))
    (folder / missing).unlink()
    (folder / truncated).write_bytes(files[truncated][:-1])
    other = next(n for n in sorted(files) if n not in (flipped, missing, truncated, swapped))
    (folder / swapped).write_bytes(files[other])
    return sorted([flipped, missing, truncated, swapped])


def backup_problems(label: str, found, expected: list[str]) -> list[Problem]:
    if not isinstance(found, list) or not all(isinstance(n, str) for n in found):
        return [
            Problem(
                f"{label}: returned {kind(found)}, expected a sorted list of names",
                f"{label}: {kind(found)}을(를) 돌려줌: 정렬된 이름 리스트가 필요합니다",
            )
        ]
    problems = []
    missed, alarms = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missed:
        problems.append(
            Problem(f"{label}: damaged files not reported {missed}", f"{label}: 찾지 못한 손상 파일 {missed}")
        )
    if alarms:
        problems.append(
            Problem(
                f"{label}: intact or unlisted files reported {alarms}",
                f"{label}: 멀쩡하거나 manifest에 없는 파일 {alarms}",
            )
        )
    if not missed and not alarms and found != expected:
        problems.append(Problem(f"{label}: returned {found}, not sorted", f"{label}: {found}: 정렬되어 있지 않습니다"))
    return problems


def check_backup(ctx: Context) -> Result:
    rng = ctx.rng
    answer = ctx.answer()
    folder = Path(answer.home) / f"backup-{ctx.seed}"
    files = write_backup(folder, rng)
    clean = answer.call(path_argument(folder), timeout=ctx.timeout)
    problems = backup_problems("intact backup", clean, [])
    expected = damage(folder, files, rng)
    found = answer.call(path_argument(folder), timeout=ctx.timeout)
    problems += backup_problems("damaged backup", found, expected)
    flagged = len(clean) if isinstance(clean, (list, set, tuple)) else "?"
    right = len(set(found) & set(expected)) if isinstance(found, (list, set, tuple)) else 0
    return Result(
        f"intact: {flagged} flagged; damaged: {right}/{len(expected)} found", "[]; the sorted damaged names", problems
    )


__all__ = ["check_anomaly", "check_backup", "check_idempotent", "check_recommend", "is_int"]
