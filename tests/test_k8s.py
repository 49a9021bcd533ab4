"""The Kubernetes manifests of the online service build with kustomize, validate against the
Kubernetes schemas, and point at what the service and its image really have.

Offline: `kubectl kustomize` (installed by `make setup_dev`) renders each kustomization, and
`kubernetes-validate` checks every rendered object against the API schemas (strict: unknown
fields are errors). No cluster is needed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_common.settings import project_root

K8S = project_root() / "deployment" / "k8s"
KUSTOMIZATIONS = ("base", "overlays/local")
KUBERNETES_VERSION = "1.30.0"  # the oldest minor the manifests target (autoscaling/v2, policy/v1)


def rendered(kustomization: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: run `make setup_dev` (Debian's kubernetes-client)"
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / kustomization)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return rendered(request.param)


def test_every_object_validates_against_the_schemas(objects: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    kinds = sorted(o["kind"] for o in objects)
    for required in (
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    ):
        assert required in kinds
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_object(objects: list[dict[str, Any]]) -> None:
    """The check above can fail: a misspelt probe field is an error."""
    import copy

    import kubernetes_validate

    deployment = copy.deepcopy(by_kind(objects, "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGett"] = container["readinessProbe"].pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def _service_routes() -> set[str]:
    from online_service.service import DriverRanking

    return {route.path for route in DriverRanking.to_asgi().routes}


def test_probes_hit_the_services_health_routes_on_its_port(
    objects: list[dict[str, Any]],
) -> None:
    deployment = by_kind(objects, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    routes = _service_routes()
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in routes
        assert container[probe]["httpGet"]["port"] == "http"
    [port] = container["ports"]
    assert port["name"] == "http"
    settings = by_kind(objects, "ConfigMap")["data"]
    assert port["containerPort"] == int(settings["SERVING_PORT"])
    assert settings["SERVING_HOST"] == "0.0.0.0"
    service = by_kind(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def _image_entrypoint(pipeline: str) -> list[str]:
    """The ENTRYPOINT of PIPELINE's own Dockerfile (`<pipeline>/Dockerfile`)."""
    dockerfile = (project_root() / pipeline / "Dockerfile").read_text()
    [entrypoint] = re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile, flags=re.MULTILINE)
    return list(yaml.safe_load(entrypoint))


def test_container_runs_the_serving_images_own_command(objects: list[dict[str, Any]]) -> None:
    from typer.testing import CliRunner

    deployment = by_kind(objects, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "driver-ranking-model-serving" in container["image"]
    assert "command" not in container, "the image's ENTRYPOINT runs, not an override"
    entrypoint = _image_entrypoint("model_serving")
    assert entrypoint == ["model-serving"]
    scripts = tomllib.loads((project_root() / "model_serving/pyproject.toml").read_text())
    assert scripts["project"]["scripts"]["model-serving"] == "model_serving.cli:app"
    assert container["args"] == ["serve"]

    from model_serving.cli import app
    from online_service.cli import SERVICE

    answer = CliRunner().invoke(app, [*container["args"], "--help"])
    assert answer.exit_code == 0, answer.output
    assert SERVICE == "online_service.service:DriverRanking"


def test_settings_are_documented_and_the_api_key_is_a_secret(
    objects: list[dict[str, Any]],
) -> None:
    example = (project_root() / ".env-example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    settings = by_kind(objects, "ConfigMap")
    secret = by_kind(objects, "Secret")
    assert set(settings["data"]) <= documented
    assert "SERVING_API_KEY" not in settings["data"]
    assert set(secret["stringData"]) == {"SERVING_API_KEY"}
    env_from = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "envFrom"
    ]
    assert {"configMapRef": {"name": settings["metadata"]["name"]}} in env_from
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in env_from


def test_autoscaler_and_budget_select_the_deployments_pods(
    objects: list[dict[str, Any]],
) -> None:
    deployment = by_kind(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    hpa = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] >= 1
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"], "CPU utilization needs a CPU request"
    assert resources["limits"]["memory"]
    for selector in (
        by_kind(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        by_kind(objects, "Service")["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()


def test_local_overlay_changes_only_what_it_says() -> None:
    base = {(o["kind"], o["metadata"]["name"]): o for o in rendered("base")}
    local = {(o["kind"], o["metadata"]["name"]): o for o in rendered("overlays/local")}
    assert set(local) - set(base) == {
        ("Namespace", "driver-ranking"),
        ("PersistentVolumeClaim", "driver-ranking-artifacts"),
    }
    assert all(
        o["metadata"].get("namespace") == "driver-ranking"
        for k, o in local.items()
        if k[0] != "Namespace"
    )
    assert local[("ConfigMap", "serving-settings")]["data"]["REDIS_TYPE"] == "standalone"
    assert base[("ConfigMap", "serving-settings")]["data"]["REDIS_TYPE"] == "cluster"
    claim = base[("Deployment", "driver-ranking-serving")]["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "artifacts",
        "persistentVolumeClaim": {"claimName": "driver-ranking-artifacts", "readOnly": True},
    } in claim


def test_manifest_files_are_plain_yaml() -> None:
    for path in sorted(Path(K8S).rglob("*.yaml")):
        assert list(yaml.safe_load_all(path.read_text())), path
