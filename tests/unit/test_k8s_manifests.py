"""The Kubernetes manifests agree with Triton and with the container image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rawvision.triton.control import restricted_api_args

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}  # tritonserver's defaults, as the image exposes


def documents() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[f"{doc['kind']}/{doc.get('metadata', {}).get('name', path.stem)}"] = doc
    return docs


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    return documents()


def container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (triton,) = manifests["Deployment/rawvision"]["spec"]["template"]["spec"]["containers"]
    return triton  # type: ignore[no-any-return]


def test_kustomization_lists_every_manifest(manifests: dict[str, dict[str, Any]]) -> None:
    listed = set(manifests["Kustomization/kustomization"]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_probes_use_tritons_health_endpoints_on_its_http_port(manifests: dict[str, dict[str, Any]]) -> None:
    triton = container(manifests)
    ports = {p["name"]: p["containerPort"] for p in triton["ports"]}
    assert ports == TRITON_PORTS
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert ports[triton[probe]["httpGet"]["port"]] == TRITON_PORTS["http"], probe


def test_the_volume_is_mounted_where_the_image_reads_its_repository(manifests: dict[str, dict[str, Any]]) -> None:
    entrypoint = (ROOT / "Dockerfile").read_text()
    image_repository = re.search(r"--model-repository=([^\"\s,]+)", entrypoint)
    assert image_repository is not None
    pod = manifests["Deployment/rawvision"]["spec"]["template"]["spec"]
    (mount,) = [m for m in container(manifests)["volumeMounts"] if m["name"] == "model-repository"]
    assert mount["mountPath"] == image_repository.group(1)
    (volume,) = [v for v in pod["volumes"] if v["name"] == "model-repository"]
    assert f"PersistentVolumeClaim/{volume['persistentVolumeClaim']['claimName']}" in manifests


def test_service_and_hpa_target_the_deployment(manifests: dict[str, dict[str, Any]]) -> None:
    deployment = manifests["Deployment/rawvision"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = manifests["Service/rawvision"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(TRITON_PORTS)
    hpa = manifests["HorizontalPodAutoscaler/rawvision"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    pod_metrics = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    rules = yaml.safe_load(manifests["ConfigMap/rawvision-adapter-rules"]["data"]["config.yaml"])["rules"]
    assert set(pod_metrics) <= {rule["name"]["as"] for rule in rules}
    assert all("nv_inference_queue_duration_us" in rule["seriesQuery"] for rule in rules)


def test_admin_key_args_match_what_the_embedded_server_passes(manifests: dict[str, dict[str, Any]]) -> None:
    args = container(manifests)["args"]
    assert [a.replace("$(RAWVISION_ADMIN_KEY)", "KEY") for a in args] == list(restricted_api_args("KEY"))
    env = {e["name"]: e for e in container(manifests)["env"]}
    secret = env["RAWVISION_ADMIN_KEY"]["valueFrom"]["secretKeyRef"]["name"]
    assert f"Secret/{secret}" in manifests
