"""Dockerfile, Compose and Kubernetes files: they parse and refer only to things that
exist: official or own images, the worker's port 6066, catalogue topics (events.md),
settings of streams/settings.py, partners of the registry; generated files are fresh."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import promql  # noqa: E402

ROOT = promql.ROOT
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
EVENTS_MD = ROOT.parent / "shared" / "spec" / "events.md"
WORKER_PORT = 6066
OFFICIAL_IMAGES = {"apache/kafka", "redis", "prom/prometheus", "prom/alertmanager", "grafana/grafana"}
OWN_IMAGE = "spoedstroom"


def setting_env_names() -> set[str]:
    from streams.settings import Settings

    return {f"SPOEDSTROOM_{f.name.upper()}" for f in dataclasses.fields(Settings)}


def catalogue_topics() -> set[str]:
    """Topic names of events.md (the binding contract), cross-checked with topics.catalogue."""
    if EVENTS_MD.exists():
        text = EVENTS_MD.read_text(encoding="utf-8")
        names = set(re.findall(r"`(acute\.[a-z]+)`", text))
    else:  # the spec lives outside the repository; fall back to the code's catalogue
        names = set()
    from topics.catalogue import ALL_TOPICS

    code = {t.name for t in ALL_TOPICS}
    if names:
        assert names == code, f"events.md topics {sorted(names)} != topics.catalogue {sorted(code)}"
    return code


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out = []
    for res in kust["resources"]:
        for doc in load_all(K8S / res):
            out.append((res, doc))
    return out


def strings(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in strings(k) + strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in strings(v)]
    return [obj] if isinstance(obj, str) else []


def check_references(where: str, obj: Any) -> list[str]:
    """Env var names, topics and internal topic names used anywhere in `obj`."""
    problems = []
    env = setting_env_names()
    topics = catalogue_topics()
    for s in strings(obj):
        for name in re.findall(r"\bSPOEDSTROOM_[A-Z_]+\b", s):
            if name not in env:
                problems.append(f"{where}: {name} is not a field of streams/settings.py")
        for topic in re.findall(r"(?<![\w.])acute\.[a-z_]+\b", s):
            if topic not in topics:
                problems.append(f"{where}: topic {topic} is not in the catalogue")
    return problems


# --------------------------------------------------------------------------------------
# Dockerfile


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r'pip install "?\.\[production\]"?', text)
    assert re.search(r"^USER 10001", text, re.M)
    assert 'ENTRYPOINT ["spoedstroom"]' in text and 'CMD ["worker"]' in text
    assert re.search(rf"^EXPOSE {WORKER_PORT}$", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    for name in re.findall(r"\bSPOEDSTROOM_[A-Z_]+\b", text):
        assert name in setting_env_names(), name
    # Everything the Dockerfile copies exists and is not excluded by .dockerignore.
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part).exists(), f"COPY {part}: missing"
    # ... and every package the install builds is copied (pip stops at a missing one).
    copied = {part for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M) for part in src.split()}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert set(packages) <= copied, f"packages the image would not have: {set(packages) - copied}"
    ignore = (ROOT / ".dockerignore").read_text()
    assert ".venv" in ignore and ".git" in ignore and "!deploy/regions" in ignore


def test_dockerfile_image_refuses_to_run_without_a_web_token() -> None:
    from streams.settings import Settings, WebExposureError

    text = (ROOT / "Dockerfile").read_text()
    env = dict(re.findall(r"\b(SPOEDSTROOM_[A-Z_]+)=(\S+)", text.split("\nFROM ")[-1]))
    assert "SPOEDSTROOM_WEB_TOKEN" not in env, "no token in the image"
    # The image binds all interfaces; without a token the worker must refuse to start.
    with pytest.raises(WebExposureError):
        Settings(web_host=env["SPOEDSTROOM_WEB_HOST"]).check_web_exposure()
    assert "SPOEDSTROOM_WEB_TOKEN" in text.split("\nFROM ")[0], "the usage comment shows the token"


# --------------------------------------------------------------------------------------
# Compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "kafka-2", "kafka-3", "redis", "topics", "worker-1", "worker-2",
                 "gateway", "simulator", "prometheus", "alertmanager", "grafana"):
        assert name in services, name
    for name, svc in services.items():
        assert svc.get("restart"), f"{name}: no restart policy"
        assert "healthcheck" in svc, f"{name}: no healthcheck"
    assert services["topics"]["command"] == ["dev", "topics"]
    assert services["simulator"]["profiles"] == ["simulator"]
    cmd = services["simulator"]["command"]
    assert cmd[0] == "simulate" and "--registry" in cmd and cmd[cmd.index("--speed") + 1] == "1"
    assert "--kafka" in cmd and "--out" not in cmd, "simulate needs exactly one of --out / --kafka"
    assert "--appendonly" in services["redis"]["command"]
    for w in ("worker-1", "worker-2"):
        assert services[w]["command"] == ["worker"]
        deps = services[w]["depends_on"]
        assert deps["topics"]["condition"] == "service_completed_successfully"
        assert deps["kafka"]["condition"] == "service_healthy"


def test_compose_kafka_kraft_and_three_brokers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    single = services["kafka"]["environment"]
    assert single["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "profiles" not in services["kafka"]
    for name in ("kafka-2", "kafka-3"):
        env = services[name]["environment"]
        assert services[name]["profiles"] == ["three-brokers"]
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == 2
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
    # The env file of the profile turns `kafka` into node 1 of the same quorum.
    three = dict(line.split("=", 1) for line in (DEPLOY / "three-brokers.env").read_text().splitlines()
                 if line and not line.startswith("#"))
    assert three["COMPOSE_PROFILES"] == "three-brokers"
    assert three["KAFKA_QUORUM_VOTERS"] == services["kafka-2"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert three["KAFKA_REPLICATION_FACTOR"] == "3" and three["KAFKA_MIN_ISR"] == "2"
    for server in three["SPOEDSTROOM_BOOTSTRAP_SERVERS"].split(","):
        host = server.split(":")[0]
        assert host in services, server
    for key in three:
        if key.startswith("KAFKA_"):
            assert "${" + key in COMPOSE.read_text(), f"{key} of three-brokers.env unused"


def test_compose_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    built = {svc["image"] for svc in services.values() if "build" in svc}
    assert built == {f"{OWN_IMAGE}:0.1.0"}
    for name, svc in services.items():
        image = svc["image"]
        repo = image.rsplit(":", 1)[0]
        assert repo in OFFICIAL_IMAGES or image in built, f"{name}: unexpected image {image}"
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin a tag"


def test_compose_worker_port_and_scrape(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for w in ("worker-1", "worker-2"):
        env = services[w]["environment"]
        assert env["SPOEDSTROOM_WEB_PORT"] == str(WORKER_PORT)
        assert env["SPOEDSTROOM_WEB_HOST"] == "0.0.0.0"
        assert all(p.endswith(f":{WORKER_PORT}") for p in services[w]["ports"])
        assert str(WORKER_PORT) in json.dumps(services[w]["healthcheck"])
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == promql.WORKER_JOB)
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert sorted(targets) == ["worker-1:6066", "worker-2:6066"]
    assert all(t.split(":")[0] in services for t in targets)
    am = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert am.split(":")[0] in services


WEB_TOKEN_SECRET = "spoedstroom_web_token"


def test_compose_requires_the_web_token(compose: dict[str, Any]) -> None:
    services = compose["services"]
    secret = compose["secrets"][WEB_TOKEN_SECRET]
    assert secret["file"] == f"./secrets/{WEB_TOKEN_SECRET}"
    assert (DEPLOY / "secrets" / f"{WEB_TOKEN_SECRET}.example").exists()
    mounted = f"/run/secrets/{WEB_TOKEN_SECRET}"
    for w in ("worker-1", "worker-2"):
        svc = services[w]
        assert svc["environment"]["SPOEDSTROOM_WEB_HOST"] == "0.0.0.0"
        assert WEB_TOKEN_SECRET in svc["secrets"], w
        assert svc["command"] == ["worker"]
        script = svc["entrypoint"][2]
        assert svc["entrypoint"][:2] == ["/bin/sh", "-c"] and mounted in script, w
        assert "SPOEDSTROOM_WEB_TOKEN" not in svc["environment"], f"{w}: the token comes from the secret only"
    # Prometheus sends the same secret to the workers' /metrics.
    assert WEB_TOKEN_SECRET in services["prometheus"]["secrets"]
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == promql.WORKER_JOB)
    assert job["authorization"] == {"type": "Bearer", "credentials_file": mounted}
    # A value in the env file would be overridden by the secret: the template has none.
    env_example = (DEPLOY / "env" / "spoedstroom.env.example").read_text()
    assert not re.search(r"^\s*SPOEDSTROOM_WEB_TOKEN\s*=", env_example, re.M)


@pytest.mark.parametrize(("content", "refusal"), [
    (None, "SPOEDSTROOM_WEB_TOKEN is empty"),  # the secret file was never created
    ("", "SPOEDSTROOM_WEB_TOKEN is empty"),
    ("short-token\n", "has 11 characters"),  # read, without its newline
    ("from the example", None),
])
def test_compose_worker_entrypoint_passes_the_secret_to_the_worker(
        compose: dict[str, Any], tmp_path: Path, content: str | None, refusal: str | None) -> None:
    """The worker's entrypoint for real (sh and the `spoedstroom` CLI of this venv), with
    the secret at a temporary path. Bad tokens are refused at once; no broker needed."""
    from streams.devstack import free_port

    if refusal is None:  # the example file as shipped, copied without editing
        content = (DEPLOY / "secrets" / f"{WEB_TOKEN_SECRET}.example").read_text()
        refusal = f"has {len(content.strip())} characters"
    secret = tmp_path / WEB_TOKEN_SECRET
    if content is not None:
        secret.write_text(content)
    shell, flag, script, *args = compose["services"]["worker-1"]["entrypoint"]
    script = script.replace("$$", "$").replace(f"/run/secrets/{WEB_TOKEN_SECRET}", str(secret))
    env = {k: v for k, v in os.environ.items() if k != "SPOEDSTROOM_WEB_TOKEN"}
    env.update({"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "SPOEDSTROOM_WEB_HOST": "0.0.0.0", "SPOEDSTROOM_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
    res = subprocess.run([shell, flag, script, *args, *compose["services"]["worker-1"]["command"]],
                         env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "refusing to start" in res.stderr and refusal in res.stderr, res.stderr


GATEWAY_MLLP_PORT, GATEWAY_HTTP_PORT = 2575, 8075


def test_compose_gateway(compose: dict[str, Any]) -> None:
    """The partner gateway: its secrets as files, the web token like the workers', ports
    on loopback only, scraped by Prometheus."""
    svc = compose["services"]["gateway"]
    cmd = svc["command"]
    assert cmd[0] == "gateway"
    secrets = {cmd[cmd.index("--tokens-file") + 1], cmd[cmd.index("--pseudonym-key-file") + 1]}
    assert secrets == {"/run/secrets/spoedstroom_gateway_tokens", "/run/secrets/spoedstroom_pseudonym_key"}
    for name in ("spoedstroom_gateway_tokens", "spoedstroom_pseudonym_key", WEB_TOKEN_SECRET):
        assert name in svc["secrets"] and name in compose["secrets"]
    assert svc["entrypoint"] == compose["services"]["worker-1"]["entrypoint"]
    env = svc["environment"]
    assert env["SPOEDSTROOM_GATEWAY_HOST"] == "0.0.0.0"
    assert env["SPOEDSTROOM_GATEWAY_MLLP_PORT"] == str(GATEWAY_MLLP_PORT)
    assert env["SPOEDSTROOM_GATEWAY_HTTP_PORT"] == str(GATEWAY_HTTP_PORT)
    assert sorted(svc["ports"]) == [f"127.0.0.1:{GATEWAY_MLLP_PORT}:{GATEWAY_MLLP_PORT}",
                                    f"127.0.0.1:{GATEWAY_HTTP_PORT}:{GATEWAY_HTTP_PORT}"]
    assert f"{GATEWAY_HTTP_PORT}/readyz" in json.dumps(svc["healthcheck"])
    assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "spoedstroom-gateway")
    assert [t for sc in job["static_configs"] for t in sc["targets"]] == [f"gateway:{GATEWAY_HTTP_PORT}"]
    assert job["authorization"]["credentials_file"] == f"/run/secrets/{WEB_TOKEN_SECRET}"


def test_compose_references_and_no_secrets(compose: dict[str, Any]) -> None:
    assert not check_references("compose.yaml", compose)
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key) and not key.endswith("__FILE"):
                assert value in (None, "") or str(value).startswith("${"), f"{name}: {key} set in compose.yaml"
    for name, spec in compose["secrets"].items():
        example = (COMPOSE.parent / spec["file"]).with_name(Path(spec["file"]).name + ".example")
        assert example.exists(), f"secret {name}: no {example.name}"
    for svc in compose["services"].values():
        for ef in svc.get("env_file") or []:
            path = ef["path"] if isinstance(ef, dict) else ef
            assert (COMPOSE.parent / (path + ".example")).exists(), path
    env_example = (DEPLOY / "env" / "spoedstroom.env.example").read_text()
    for name in re.findall(r"^(SPOEDSTROOM_[A-Z_]+)=", env_example, re.M):
        assert name in setting_env_names(), name
    ignored = (DEPLOY / ".gitignore").read_text()
    assert "secrets/*" in ignored and "env/*" in ignored


def test_compose_mounts_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (COMPOSE.parent / src).exists(), f"{name}: {src} missing"


def test_alertmanager_and_grafana_provisioning() -> None:
    am = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in am["receivers"]}
    assert am["route"]["receiver"] in receivers
    for route in am["route"].get("routes", []):
        assert route["receiver"] in receivers
    assert receivers[am["route"]["receiver"]]["webhook_configs"]
    ds = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    prom = next(d for d in ds["datasources"] if d["type"] == "prometheus")
    assert prom["uid"] == "prometheus" and prom["url"] == "http://prometheus:9090"
    prov = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "spoedstroom.yaml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboards() -> None:
    sys.path.insert(0, str(DEPLOY / "grafana"))
    import generate_dashboards

    rendered = generate_dashboards.render()
    files = {p.name: p.read_text(encoding="utf-8") for p in promql.dashboard_files()}
    assert files == rendered, "dashboards stale: run python deploy/grafana/generate_dashboards.py"
    uids = set()
    for name, text in files.items():
        dash = json.loads(text)
        assert 36 <= dash["schemaVersion"] <= 41
        uids.add(dash["uid"])
        assert {v["name"] for v in dash["templating"]["list"]} >= {"region", "location"}
        for panel in dash["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "prometheus"
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            for t in panel["targets"]:
                assert t["datasource"]["uid"] == "prometheus"
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids))
    assert len(uids) == 6  # regional, nation, SEH detail, uitstroom, ambulance, pipeline


# --------------------------------------------------------------------------------------
# Kubernetes


def test_k8s_generated_files_are_fresh() -> None:
    res = subprocess.run([sys.executable, str(DEPLOY / "tools" / "sync.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_k8s_parses_and_references() -> None:
    docs = k8s_docs()
    kinds = [d["kind"] for _, d in docs]
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Deployment", "Service",
                 "ConfigMap", "ServiceMonitor", "PrometheusRule"):
        assert kind in kinds, kind
    problems = [p for res, d in docs for p in check_references(f"{res}:{d['kind']}/{d['metadata']['name']}", d)]
    assert not problems, "\n".join(problems)


def test_k8s_kafka_kraft() -> None:
    docs = dict(((d["kind"], d["metadata"]["name"]), d) for _, d in k8s_docs())
    kafka = docs[("Kafka", "spoedstroom")]
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    pool = next(d for (k, _), d in docs.items() if k == "KafkaNodePool")
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "spoedstroom"
    cfg = kafka["spec"]["kafka"]["config"]
    assert cfg["default.replication.factor"] == 3 and cfg["min.insync.replicas"] == 2
    assert cfg["transaction.state.log.replication.factor"] == 3
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["authentication"]["type"] == "scram-sha-512", listener["name"]


def test_k8s_topics() -> None:
    from topics.catalogue import ALL_TOPICS

    topics = {d["spec"]["topicName"]: d["spec"] for _, d in k8s_docs() if d["kind"] == "KafkaTopic"}
    expected = {t.name for t in ALL_TOPICS} | {"spoedstroom-region-events", "spoedstroom-nation"}
    assert set(topics) == expected
    thirty_days = 30 * 86_400_000
    for name in ("acute.calls", "acute.dispatches", "acute.admissions", "acute.discharges", "acute.capacity"):
        assert topics[name]["partitions"] == 6
        assert topics[name]["config"]["cleanup.policy"] == "delete"
        assert topics[name]["config"]["retention.ms"] == thirty_days
    assert topics["acute.metrics"]["config"]["cleanup.policy"] == "compact"
    for name in ("acute.alerts", "acute.deadletter"):
        assert topics[name]["config"]["cleanup.policy"] == "delete"
        assert topics[name]["config"]["retention.ms"] == thirty_days
    assert topics["spoedstroom-region-events"]["partitions"] == 4
    assert topics["spoedstroom-nation"]["partitions"] == 1
    assert all(t["replicas"] == 3 for t in topics.values())


def test_k8s_users_and_acls() -> None:
    from topics.catalogue import INPUT_TOPICS, OUTPUT_TOPICS
    from topics.registry import load_registry

    inputs = {t.name for t in INPUT_TOPICS}
    outputs = {t.name for t in OUTPUT_TOPICS}
    users = {d["metadata"]["name"]: d for _, d in k8s_docs() if d["kind"] == "KafkaUser"}
    registry = load_registry(DEPLOY / "regions" / "haaglanden.yaml")
    for pid in registry.partners:
        user = users[f"partner-{pid}"]
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        acls = user["spec"]["authorization"]["acls"]
        assert acls, pid
        for acl in acls:
            assert acl["resource"]["type"] == "topic" and acl["resource"]["patternType"] == "literal"
            assert acl["resource"]["name"] in inputs, (pid, acl)
            assert sorted(acl["operations"]) == ["Describe", "Write"], (pid, acl)
    assert len([u for u in users if u.startswith("partner-")]) == len(registry.partners)
    # A VVT partner may only report capacity; a hospital never writes rides.
    vvt = {a["resource"]["name"] for a in users["partner-florence"]["spec"]["authorization"]["acls"]}
    assert vvt == {"acute.capacity"}
    hmc = {a["resource"]["name"] for a in users["partner-hmc"]["spec"]["authorization"]["acls"]}
    assert "acute.dispatches" not in hmc and "acute.admissions" in hmc

    consumer = users["spoedstroom-consumer"]["spec"]["authorization"]["acls"]
    for acl in consumer:
        if acl["resource"]["type"] == "topic":
            assert acl["resource"]["name"] in outputs and "Write" not in acl["operations"]
    worker = users["spoedstroom-worker"]["spec"]["authorization"]["acls"]
    by_name = {(a["resource"]["type"], a["resource"]["name"]): set(a["operations"]) for a in worker}
    for t in inputs:
        assert "Read" in by_name[("topic", t)] and "Write" not in by_name[("topic", t)]
    for t in outputs:
        assert "Write" in by_name[("topic", t)]
    assert {"Read", "Write", "Create"} <= by_name[("topic", "spoedstroom-")]
    assert "Read" in by_name[("group", "spoedstroom")]


def test_k8s_worker() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_docs()}
    dep = docs[("Deployment", "spoedstroom-worker")]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["worker"]
    assert c["ports"][0]["containerPort"] == WORKER_PORT
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    cm = docs[("ConfigMap", "spoedstroom-config")]["data"]
    assert cm["SPOEDSTROOM_WEB_PORT"] == str(WORKER_PORT) and cm["SPOEDSTROOM_WEB_HOST"] == "0.0.0.0"
    assert cm["SPOEDSTROOM_BOOTSTRAP_SERVERS"].startswith("spoedstroom-kafka-bootstrap:")
    assert cm["SPOEDSTROOM_SASL_USERNAME"] in {n for k, n in docs if k == "KafkaUser"}
    for env in c["env"]:
        ref = env["valueFrom"]["secretKeyRef"]  # secrets only by reference
        assert ref["name"] in ("spoedstroom-worker", "spoedstroom-secrets")
    # The pods bind 0.0.0.0, so the token is required: no `optional`, or the worker would
    # start without it (and refuse to); the ServiceMonitor sends the same key.
    token = next(e["valueFrom"]["secretKeyRef"] for e in c["env"] if e["name"] == "SPOEDSTROOM_WEB_TOKEN")
    assert token == {"name": "spoedstroom-secrets", "key": "web-token"}, token
    example = yaml.safe_load((K8S / "spoedstroom-secrets.example.yaml").read_text())
    assert example["metadata"]["name"] == token["name"] and token["key"] in example["stringData"]
    reg = docs[("ConfigMap", "spoedstroom-registry")]["data"]
    assert reg["haaglanden.yaml"] == (DEPLOY / "regions" / "haaglanden.yaml").read_text()
    assert cm["SPOEDSTROOM_REGISTRY"].rsplit("/", 1)[1] in reg
    svc = docs[("Service", "spoedstroom-worker")]
    assert svc["spec"]["ports"][0]["port"] == WORKER_PORT
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    sm = docs[("ServiceMonitor", "spoedstroom-worker")]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["spec"]["endpoints"][0]["authorization"] == {"type": "Bearer", "credentials": token}


def test_k8s_gateway() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_docs()}
    dep = docs[("Deployment", "spoedstroom-gateway")]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    assert args[0] == "gateway"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"mllp": GATEWAY_MLLP_PORT, "http": GATEWAY_HTTP_PORT}
    env = {e["name"]: e for e in c["env"]}
    assert env["SPOEDSTROOM_GATEWAY_MLLP_PORT"]["value"] == str(GATEWAY_MLLP_PORT)
    assert env["SPOEDSTROOM_GATEWAY_HTTP_PORT"]["value"] == str(GATEWAY_HTTP_PORT)
    assert env["SPOEDSTROOM_WEB_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "spoedstroom-secrets", "key": "web-token"}
    assert env["SPOEDSTROOM_SASL_USERNAME"]["value"] == "spoedstroom-gateway"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["allowPrivilegeEscalation"] is False
    # The secret files the args name are mounted from spoedstroom-secrets, keys in the example.
    mount = next(m for m in c["volumeMounts"] if m["name"] == "secrets")["mountPath"]
    volume = next(v for v in pod["volumes"] if v["name"] == "secrets")["secret"]
    example = yaml.safe_load((K8S / "spoedstroom-secrets.example.yaml").read_text())
    for flag in ("--tokens-file", "--pseudonym-key-file"):
        path = args[args.index(flag) + 1]
        assert path.startswith(mount + "/")
        item = next(i for i in volume["items"] if i["path"] == path.rsplit("/", 1)[1])
        assert item["key"] in example["stringData"]
    svc = docs[("Service", "spoedstroom-gateway")]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert {p["port"] for p in svc["spec"]["ports"]} == {GATEWAY_MLLP_PORT, GATEWAY_HTTP_PORT}
    # Its Kafka user writes the hospitals' input topics and the dead letters, reads nothing.
    acls = docs[("KafkaUser", "spoedstroom-gateway")]["spec"]["authorization"]["acls"]
    assert {a["resource"]["name"] for a in acls} == {"acute.admissions", "acute.discharges", "acute.capacity",
                                                     "acute.deadletter"}
    assert all(sorted(a["operations"]) == ["Describe", "Write"] for a in acls)
    sm = docs[("ServiceMonitor", "spoedstroom-gateway")]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()


def test_k8s_prometheusrule_equals_prometheus_rules() -> None:
    (rule,) = [d for _, d in k8s_docs() if d["kind"] == "PrometheusRule"]
    groups = []
    for path in promql.RULE_FILES:
        groups += promql.load_rule_groups(path)
    assert rule["spec"]["groups"] == groups


def test_k8s_kustomize_builds() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # optional tool: the YAML checks above still ran
        return
    res = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    assert all(d["metadata"].get("namespace") == "spoedstroom" for d in docs if d["kind"] != "Namespace")
