"""The compose files parse, pin their images, check health and expose the right ports.

There is no Docker engine on CI machines, so these checks read the files.
"""

from pathlib import Path

from common.config import REPO_ROOT

import pytest
import yaml

COMPOSE_FILES = ["docker-compose.yml", "docker-compose.gpu.yml"]


def load(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / name).read_text())


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR:?message}``, as docker compose resolves them with ``env``."""
    import re

    env = env or {}

    def one(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":-":
            return arg
        raise KeyError(f"{name}: {arg}")

    return re.sub(r"\$\{([A-Z_]+)(:-|:\?)([^}]*)\}", one, text)


def ports(service: dict, env: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(bind address, host port, container port) of each published port, defaults resolved."""
    found = []
    for spec in service.get("ports", []):
        parts = interpolate(str(spec), env).split(":")
        assert len(parts) == 3, f"{spec}: a published port must name its bind address"
        found.append((parts[0], parts[1], parts[2]))
    return found


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.gpu.yml"])
def test_images_pinned_and_healthchecked(name):
    services = load(name)["services"]
    for service_name, service in services.items():
        image = service["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{service_name}: image {image} is not pinned"
    for core in ("etcd", "minio", "standalone"):
        assert "healthcheck" in services[core], f"{core} has no healthcheck"
    assert services["etcd"]["image"] == "quay.io/coreos/etcd:v3.5.25"
    milvus = services["standalone"]
    assert any("9091/healthz" in part for part in milvus["healthcheck"]["test"])
    assert {("19530", "19530"), ("9091", "9091")} <= {(host, inside) for _, host, inside in ports(milvus)}
    assert milvus["depends_on"]["etcd"]["condition"] == "service_healthy"


def test_standalone_is_milvus_3_0_with_named_volumes():
    compose = load("docker-compose.yml")
    assert compose["services"]["standalone"]["image"].startswith("milvusdb/milvus:v3.0.")
    assert {"etcd-data", "minio-data", "milvus-data"} <= set(compose["volumes"])
    assert compose["services"]["attu"]["profiles"] == ["ui"]


def test_gpu_variant_reserves_an_nvidia_gpu():
    milvus = load("docker-compose.gpu.yml")["services"]["standalone"]
    assert milvus["image"].startswith("milvusdb/milvus:v3.0.") and milvus["image"].endswith("-gpu")
    devices = milvus["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_env_example_documents_every_setting_the_code_reads():
    import re

    documented = set(re.findall(r"^([A-Z_]+)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    source = "\n".join(p.read_text() for p in Path(REPO_ROOT / "common").glob("*.py"))
    read = set(re.findall(r'get\("([A-Z][A-Z_]{2,})"', source)) | set(re.findall(r'environ\.get\("([A-Z_]+)"', source))
    read -= {"MILVUS_SERVER_BIN"}  # an override for developers of the course, documented in embedded_server.py
    assert read <= documented, f"not in .env.example: {read - documented}"


def test_streaming_profile_runs_a_pinned_kraft_kafka_on_the_default_port():
    kafka = load("docker-compose.yml")["services"]["kafka"]
    assert kafka["profiles"] == ["streaming"] and kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft: no ZooKeeper
    assert kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://localhost:9092"
    assert ("127.0.0.1", "9092", "9092") in ports(kafka) and "kafka-broker-api-versions" in kafka["healthcheck"][
        "test"
    ][1]


def test_no_two_services_publish_the_same_host_port():
    for name in ("docker-compose.yml", "docker-compose.gpu.yml"):
        published = [host for service in load(name)["services"].values() for _, host, _ in ports(service)]
        assert len(published) == len(set(published)), f"{name}: {sorted(published)}"


def test_prometheus_scrapes_the_port_lesson_4_6_serves_by_default():
    from common.config import DEFAULT_APP_METRICS_PORT, load_settings

    prometheus = yaml.safe_load((REPO_ROOT / "monitoring" / "prometheus.yml").read_text())
    app = next(job for job in prometheus["scrape_configs"] if job["job_name"] == "course-app")
    target = app["static_configs"][0]["targets"][0]
    assert target.endswith(f":{DEFAULT_APP_METRICS_PORT}")
    assert f"APP_METRICS_PORT={DEFAULT_APP_METRICS_PORT}" in (REPO_ROOT / ".env.example").read_text()
    assert (
        load_settings(REPO_ROOT / "no.env").app_metrics_port == DEFAULT_APP_METRICS_PORT
        or "APP_METRICS_PORT" in __import__("os").environ
    )
    published = [host for s in load("docker-compose.yml")["services"].values() for _, host, _ in ports(s)]
    assert str(DEFAULT_APP_METRICS_PORT) not in published  # nothing in compose takes the app's port on the host


def test_fork_workflow_installs_its_tools_and_tests_milvus_3_from_our_compose_file():
    import subprocess
    import sys

    path = REPO_ROOT / ".github" / "workflows" / "test.yml"
    jobs = yaml.safe_load(path.read_text())["jobs"]
    test_steps = " ".join(step.get("run", "") for step in jobs["test"]["steps"])
    assert "prometheus-alertmanager" in test_steps and "make test" in test_steps  # promtool + amtool, then make test
    steps = jobs["milvus-3"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert any(
        r.startswith("docker compose up -d --wait") and " -f " not in r for r in runs
    )  # this repo's compose file
    assert any("pytest -m lesson" in r for r in runs)
    assert next(s for s in steps if "down" in s.get("run", ""))["if"] == "always()"
    assert any(step.get("env", {}).get("MILVUS_URI") == "http://localhost:19530" for step in steps)
    compose_up = next(i for i, r in enumerate(runs) if r.startswith("docker compose up"))
    assert "make secrets" in runs[:compose_up], runs  # the compose file has no default secrets: .env gets them first
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_published_port_binds_to_loopback_unless_the_learner_opts_in(name):
    services = load(name)["services"]
    every = [(service, spec) for service, body in services.items() for spec in ports(body)]
    assert every and all(bind == "127.0.0.1" for _, (bind, _, _) in every), every
    opted_in = [spec for body in services.values() for spec in ports(body, {"COURSE_BIND": "0.0.0.0"})]
    assert {bind for bind, _, _ in opted_in} == {"0.0.0.0"}
    assert "COURSE_BIND=" in (REPO_ROOT / ".env.example").read_text()


SECRET_KEYS = {
    "minio": ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
    "standalone": ("MINIO_ACCESS_KEY_ID", "MINIO_SECRET_ACCESS_KEY", "COMMON_SECURITY_DEFAULTROOTPASSWORD"),
    "grafana": ("GF_SECURITY_ADMIN_PASSWORD",),
}


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_no_credential_has_a_working_default_and_milvus_requires_a_login(name):
    services = load(name)["services"]
    text = (REPO_ROOT / name).read_text()
    assert "minioadmin" not in text and ":-admin" not in text
    for service, keys in SECRET_KEYS.items():
        if service not in services:
            continue  # the GPU file has no monitoring profile
        environment = services[service]["environment"]
        for key in keys:
            with pytest.raises(KeyError):  # docker compose refuses to start without the value
                interpolate(environment[key])
    milvus = services["standalone"]["environment"]
    assert str(milvus["COMMON_SECURITY_AUTHORIZATIONENABLED"]).lower() == "true"
    example = (REPO_ROOT / ".env.example").read_text()
    assert "minioadmin" not in example and "GRAFANA_ADMIN_PASSWORD=\n" in example


def test_make_secrets_fills_empty_secrets_and_never_overwrites(tmp_path):
    from course import env_secrets

    env = tmp_path / ".env"
    env.write_text((REPO_ROOT / ".env.example").read_text().replace("MINIO_ROOT_USER=", "MINIO_ROOT_USER=mine"))
    written = env_secrets.fill(env)
    values = env_secrets.current_values(env.read_text())
    assert values["MINIO_ROOT_USER"] == "mine" and "MINIO_ROOT_USER" not in written
    for key in ("MINIO_ROOT_PASSWORD", "MILVUS_ROOT_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert len(values[key]) >= 24, key
    assert values["MILVUS_TOKEN"] == f"root:{values['MILVUS_ROOT_PASSWORD']}"
    assert env.stat().st_mode & 0o077 == 0  # readable by its owner only
    before = env.read_text()
    assert env_secrets.fill(env) == [] and env.read_text() == before  # a second run changes nothing
    for name in COMPOSE_FILES:  # with these values every ${...:?} resolves
        interpolate((REPO_ROOT / name).read_text(), values)
