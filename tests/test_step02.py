"""Step 2 lessons against the live engine named by MILVUS_URI."""

from __future__ import annotations

from common.report import reports_dir

import pytest

from tests.helpers import expected_for, run_lesson, run_lesson_script

pytestmark = pytest.mark.lesson

# Index rows each engine must report as unavailable (the engine capability table in common/engine.py).
MISSING_INDEXES = {
    ("lite", "3.2"): {"IVF_PQ", "SCANN"},
    ("server", "2.3"): {"HNSW_SQ"},
    ("server", "*"): set(),
}
# Sections of lesson 2.3 / 2.4 that must skip, per engine.
PARTITION_SKIPS = {("lite", "3.2"): {"partition load"}, ("server", "*"): set()}
SEARCH_SKIPS = {("lite", "3.2"): set(), ("server", "2.3"): {"group_by", "hybrid", "bm25"}, ("server", "*"): set()}


def monotone(values, tolerance=0.005):
    """Non-decreasing, allowing for the noise of a few queries (documented in the lesson test)."""
    return all(b >= a - tolerance for a, b in zip(values, values[1:]))


def test_index_comparison(engine_info):
    result = run_lesson("step02_core_features/01_index_comparison.py", "--n", "8000", "--latency-queries", "30")
    rows = result["results"]
    assert result["failed_builds"] == []
    assert rows["FLAT"]["recall@10"] == 1.0
    measured = {name for name, row in rows.items() if row["recall@10"] is not None}
    missing = set(rows) - measured
    assert missing == expected_for(MISSING_INDEXES, engine_info)
    assert {line.split(":")[0] for line in result["skipped"]} == missing
    for name in measured:
        row = rows[name]
        assert 0.3 < row["recall@10"] <= 1.0, (name, row)
        assert 0 < row["p50 ms"] <= row["p95 ms"] <= row["p99 ms"]
        assert row["QPS"] > 0 and row["build+load s"] > 0 and row["batched ms/query"] > 0
    # every engine builds what the lesson asked: describe_index reports the asked build params as applied
    # (Milvus Lite drops separately sent keys, so the lesson sends them as one JSON entry there)
    for name in measured:
        assert rows[name]["params applied"] is True, (name, rows[name])
        assert rows[name]["build params"] == rows[name]["asked params"], (name, rows[name])
    assert rows["IVF_FLAT"]["build params"]["nlist"] == 256  # 4·√8000 as a power of two, not Lite's default 128
    assert rows["HNSW"]["build params"] == {"M": 16, "efConstruction": 128}  # not Lite's default 200
    for name in set(rows) - measured:  # a table never names params an engine did not build with
        assert rows[name]["build params"] is None and rows[name]["params applied"] is None, rows[name]
    # the arithmetic: SQ8 stores 1 byte per dimension instead of 4
    assert rows["IVF_SQ8"]["memory MB"] < rows["IVF_FLAT"]["memory MB"] / 2.5
    if "IVF_PQ" in measured:  # 16x compression costs recall at the same nprobe (docs, step 2)
        assert rows["IVF_PQ"]["recall@10"] < rows["IVF_FLAT"]["recall@10"], rows


@pytest.mark.engine_neutral
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--indexes", "BOGUS"], "unknown index type 'BOGUS'"),
        (["--indexes"], "--indexes names no index type"),
        (["--indexes", "DISKANN"], "lesson 2.1 does not compare DISKANN"),
    ],
)
def test_index_comparison_refuses_an_index_list_it_cannot_compare(argv, message, tmp_path):
    report = reports_dir() / "step02_index_comparison.json"
    before = report.read_bytes() if report.exists() else None
    done = run_lesson_script("step02_core_features/01_index_comparison.py", *argv, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done
    assert done.stderr.splitlines()[0] == f"error: {message}", done.stderr
    assert (report.read_bytes() if report.exists() else None) == before  # the last report is not overwritten


def test_search_tuning(engine_info):
    result = run_lesson("step02_core_features/02_search_tuning.py")
    ivf, hnsw = result["results"]["IVF_FLAT"], result["results"]["HNSW"]
    for sweep, knob in ((ivf["sweep"], "nprobe"), (hnsw["sweep"], "ef")):
        assert [row[knob] for row in sweep] == sorted(row[knob] for row in sweep)
        assert monotone([row["tuning recall"] for row in sweep]), sweep
        assert monotone([row["held-out recall"] for row in sweep]), sweep
    # nprobe = nlist probes every cluster: exact
    assert ivf["sweep"][-1]["nprobe"] == ivf["build"]["nlist"]
    assert ivf["sweep"][-1]["held-out recall"] == 1.0
    # the default data shows a real trade-off: low settings miss, HNSW reaches the target
    assert ivf["sweep"][0]["tuning recall"] < 0.9 and hnsw["sweep"][0]["tuning recall"] < 0.9
    assert hnsw["chosen"] is not None and hnsw["chosen_tuning_recall"] >= 0.95
    assert hnsw["chosen_heldout_recall"] >= 0.95 - 0.02  # confirmed on queries it was not tuned on
    # the common "target ÷ cost" rule picks the cheapest setting, whatever its recall
    for res in (ivf, hnsw):
        cheapest = min(res["sweep"], key=lambda row: row["batched ms/query"])
        assert res["ratio_choice"] == cheapest[res["knob"]]
        # the cost the plot shows grows with the knob (within noise): the last quarter of the sweep
        # costs clearly more than the first quarter, and the most expensive end is not the cheap one
        costs = [row["batched ms/query"] for row in res["sweep"]]
        quarter = max(1, len(costs) // 4)
        if res is hnsw:
            assert sum(costs[-quarter:]) / quarter > 1.15 * sum(costs[:quarter]) / quarter, costs
        else:
            # IVF at nlist 512 over 8,000 rows probes ~16 vectors per cluster: on Milvus Lite most of the cost is
            # per-call overhead, so only the exhaustive end is asserted to cost more than the cheapest low setting
            assert costs[-1] > min(costs[:quarter]), costs
    assert result["plot"].endswith("step02_search_tuning.png")
    effort = result["build_effort"]
    # every engine builds both graphs as asked (describe_index), Milvus Lite included
    assert [(row["efConstruction"], row["M"]) for row in effort] == [(128, 16), (256, 16)]
    assert ivf["build"] == {"nlist": 512} and hnsw["build"] == {"M": 16, "efConstruction": 128}
    ours = [demo["our check"] for demo in result["rule_demos"]]
    assert "ef=5 is below limit=10" in ours[0] and "outside 1..nlist" in ours[1]


def test_search_tuning_recommendation_holds_on_an_independent_rebuild(engine_info):
    """The nprobe 2.2 recommends, rebuilt with faiss at the build params the engine reported, meets the target.

    Overlapping clusters (spread 2.0 around N(0, 1) centres) make nprobe matter: at nlist 512 a small nprobe
    misses. A recommendation measured on an index built with other params than it names would fail here.
    """
    from common.data import exact_topk, make_dataset, normalize
    from common.metrics import recall_at_k

    import faiss  # faiss-cpu, pinned in requirements-dev.txt
    import numpy as np

    argv = ["--n", "10000", "--dim", "64", "--queries", "400", "--spread", "2.0", "--clusters", "100", "--seed", "1"]
    argv += ["--repeats", "1", "--latency-queries", "1"]  # the choice is made on recall; cost is not asserted here
    result = run_lesson("step02_core_features/02_search_tuning.py", *argv)
    ivf = result["results"]["IVF_FLAT"]
    nlist, nprobe, target = ivf["build"]["nlist"], ivf["chosen"], result["target"]
    assert nlist == 512 and nprobe is not None and nprobe < nlist  # a real choice, not the exhaustive end
    data = make_dataset(10000, 64, 400, 100, 2.0, 1)
    held_out = data.queries[200:]
    truth, _ = exact_topk(data.base, held_out, 10, "COSINE")
    base = np.ascontiguousarray(normalize(data.base), dtype=np.float32)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(64), 64, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(base)
    index.add(base)
    # k-means differs between faiss and the server's knowhere (measured on 2.3.5: its nprobe=128 met 0.95 where the
    # faiss rebuild gave 0.93), so the rebuild may miss by 0.03. A setting chosen on an index of another nlist misses
    # by far more (this data at nlist 512: nprobe 16 → 0.59, 32 → 0.72, 64 → 0.83), and so does a quarter of nprobe
    for probes, meets in ((nprobe, True), (nprobe // 4, False)):
        index.nprobe = probes
        _, found = index.search(np.ascontiguousarray(normalize(held_out), dtype=np.float32), 10)
        recall = recall_at_k(found, truth, 10)
        assert (recall >= target - 0.03) is meets, (probes, nlist, recall, target)


def test_partitions(engine_info):
    result = run_lesson("step02_core_features/03_partitions.py", "--n", "6000", "--many", "64")
    assert result["identical"] == result["queries"]
    assert result["only_march"]
    assert result["partition_rows"] == result["expected_rows"]
    assert result["key_filter_only_matching"]
    assert result["manual_partition"].startswith("refused")
    assert result["many_slowdown"] > 0
    assert {line.split(":")[0] for line in result["skipped"]} == expected_for(PARTITION_SKIPS, engine_info)
    if engine_info.has("partition_load"):
        assert result["load_states"]["m03"] == "Loaded" and result["load_states"]["m04"] == "NotLoad"


def test_filtered_and_hybrid(engine_info):
    result = run_lesson("step02_core_features/04_filtered_and_hybrid.py", "--n", "10000", "--queries", "60")
    by_label = {row["selectivity"]: row for row in result["filtered"]}
    assert by_label["50%"]["recall@10"] >= 0.9 and by_label["10%"]["recall@10"] >= 0.9
    assert 0 < by_label["1%"]["recall@10"] <= 1.0
    assert all(check["same ids"] for check in result["json_array"])
    assert result["range"]["hits"] > 0 and result["range"]["all inside range"]
    assert "column" in result["bad_filter"] or "parse" in result["bad_filter"]
    skipped = {line.split(":")[0] for line in result["skipped"]}
    assert skipped == expected_for(SEARCH_SKIPS, engine_info)
    if "group_by" not in skipped:
        assert result["group_by"]["distinct"]
    if "hybrid" not in skipped:
        assert all(v >= 0.9 for v in result["hybrid"]["agreement with exact fusion"].values())
    if "bm25" not in skipped:
        assert result["bm25"]["every hit has a query term"] and result["bm25"]["hits"] == 10
