"""The KubeRay manifests parse, carry the required fields and run commands this package accepts."""
import shlex
from pathlib import Path

import pytest
import tomllib
import yaml

from tuning.run.preflight import check_cluster_storage
from tuning.study.loading import load_study

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
VERSION = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]["version"]


def documents():
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs.append((path.name, doc))
    for name, doc in list(docs):
        if doc["kind"] == "ConfigMap":
            for key, text in doc["data"].items():
                docs.append((f"{name}:{key}", yaml.safe_load(text)))
    return docs


def rayjob_specs():
    specs = []
    for name, doc in documents():
        if doc["kind"] == "RayJob":
            specs.append((name, doc["spec"]))
        elif doc["kind"] == "RayCronJob":
            specs.append((name, doc["spec"]["jobTemplate"]))
    return specs


def test_every_manifest_has_the_required_fields():
    kinds = set()
    for name, doc in documents():
        assert doc.get("apiVersion") and doc.get("kind"), name
        assert doc["metadata"].get("name") or doc["metadata"].get("generateName"), name
        kinds.add(doc["kind"])
    assert {"RayJob", "RayCronJob", "CronJob", "Deployment", "StatefulSet", "PersistentVolumeClaim"} <= kinds


def test_schedules_are_nightly_cron_expressions():
    for name, doc in documents():
        if doc["kind"] in ("RayCronJob", "CronJob"):
            assert len(doc["spec"]["schedule"].split()) == 5, name


@pytest.mark.parametrize("name, spec", rayjob_specs(), ids=lambda x: x if isinstance(x, str) else "")
def test_rayjobs_run_a_valid_study_with_cluster_storage(name, spec):
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", "tuning.launch"]
    args = argv[3:]
    study_name = [a.split("=", 1)[1] for a in args if a.startswith("study=")][0]
    study = load_study(study_name, [a for a in args if not a.startswith("study=")])  # the package accepts it
    assert study.launch.ray.address == "auto"
    check_cluster_storage(study, alive_nodes=3)  # what the launcher demands on a multi-node cluster
    cluster = spec["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    for pod in pods:
        for container in pod["spec"]["containers"]:
            assert container["image"] == f"REGISTRY/catholic2gogh:{VERSION}"
            assert {"name": "studies", "mountPath": "/mnt/studies"} in container["volumeMounts"]
    assert study.out_dir.as_posix().startswith("/mnt/studies/")
    assert any("nvidia.com/gpu" in c["resources"]["limits"] for g in cluster["workerGroupSpecs"]
               for c in g["template"]["spec"]["containers"])


def test_one_rayjob_spec_everywhere():
    entrypoints = {spec["entrypoint"] for _, spec in rayjob_specs()}
    assert len(rayjob_specs()) == 3 and len(entrypoints) == 1


def test_image_and_server_commands_match_the_package():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"catholic2gogh:{VERSION}" in dockerfile and "pip install" in dockerfile
    for package in ("cyclegan", "tuning", "dashboards", "studies"):
        assert f"COPY --chown=ray:users {package} {package}" in dockerfile
    (mlflow,) = [d for _, d in documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow"]
    command = mlflow["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["mlflow", "server"] and "--serve-artifacts" in command
    assert command[command.index("--backend-store-uri") + 1].startswith("postgresql://")


def pod_specs():
    """(where, pod spec) of every pod the manifests create."""
    pods = []
    for name, doc in documents():
        if doc["kind"] in ("Deployment", "StatefulSet"):
            pods.append((f"{name}:{doc['metadata']['name']}", doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "CronJob":
            pods.append((f"{name}:{doc['metadata']['name']}", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    for name, spec in rayjob_specs():
        cluster = spec["rayClusterSpec"]
        pods.append((f"{name}:head", cluster["headGroupSpec"]["template"]["spec"]))
        pods += [(f"{name}:{g['groupName']}", g["template"]["spec"]) for g in cluster["workerGroupSpecs"]]
    return pods


def env_of(container) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


def test_every_pod_runs_as_non_root_without_privilege_escalation():
    pods = pod_specs()
    assert len(pods) == 3 * 2 + 3  # head + workers of three RayJobs; postgres, mlflow, the nightly CronJob
    for where, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0, where
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], where


def test_secrets_come_from_kubernetes_secrets_never_from_manifest_values():
    from tuning.redact import redact
    for where, pod in pod_specs():
        for container in pod["containers"]:
            for name, entry in env_of(container).items():
                if any(word in name for word in ("PASSWORD", "TOKEN", "SECRET")):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (where, name)
            text = " ".join(container.get("command", []))
            assert redact(text) == text, where  # no user:password@ in a server command
    for name, spec in rayjob_specs():
        assert redact(spec["entrypoint"]) == spec["entrypoint"], name


def test_ray_wants_its_token_and_mlflow_a_user():
    for name, spec in rayjob_specs():
        cluster = spec["rayClusterSpec"]
        containers = [c for t in [cluster["headGroupSpec"]["template"]] + [g["template"] for g in
                      cluster["workerGroupSpecs"]] for c in t["spec"]["containers"]]
        for container in containers:  # RAY_AUTH_MODE=token on every node: GCS, raylets and the Jobs API
            env = env_of(container)
            assert env["RAY_AUTH_MODE"]["value"] == "token", name
            assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "catholic2gogh-ray", name
        head = cluster["headGroupSpec"]["template"]["spec"]
        env = env_of(head["containers"][0])  # the launcher: MLflow's user from a secret
        assert "secretKeyRef" in env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"], name
    (mlflow,) = [d for _, d in documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow"]
    container = mlflow["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][container["command"].index("--app-name") + 1] == "basic-auth"
    assert {"MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_FLASK_SERVER_SECRET_KEY"} <= set(env_of(container))
    assert "mlflow[auth]" in (DEPLOY / "Dockerfile").read_text()
