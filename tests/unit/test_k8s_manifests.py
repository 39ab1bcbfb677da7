"""The Kubernetes manifests agree with Triton and with the container image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rawvision.pipelines.admission import repository_bounds
from rawvision.server.control import restricted_api_args
from rawvision.server.front import KubernetesFront, body_limit, kubernetes_config, kubernetes_configmap
from rawvision.server.nginx import Admission, key_map_line

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}  # tritonserver's defaults, as the image exposes
FRONT_PORTS = {"https": KubernetesFront.port, "grpcs": KubernetesFront.grpc_port}


def documents() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[f"{doc['kind']}/{doc.get('metadata', {}).get('name', path.stem)}"] = doc
    return docs


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    return documents()


def container(manifests: dict[str, dict[str, Any]], name: str = "triton") -> dict[str, Any]:
    (found,) = [c for c in manifests["Deployment/rawvision"]["spec"]["template"]["spec"]["containers"]
                if c["name"] == name]
    return found  # type: ignore[no-any-return]


def test_kustomization_lists_every_manifest(manifests: dict[str, dict[str, Any]]) -> None:
    listed = set(manifests["Kustomization/kustomization"]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_probes_tell_the_truth_about_stubs_and_a_hung_server(manifests: dict[str, dict[str, Any]]) -> None:
    """Readiness and liveness run rawvision.server.health (standard library only) against Triton's HTTP port."""
    triton = container(manifests)
    ports = {p["name"]: p["containerPort"] for p in triton["ports"]}
    assert ports == TRITON_PORTS
    for probe, check in (("readinessProbe", "ready"), ("livenessProbe", "live")):
        command = triton[probe]["exec"]["command"]
        assert command == ["python3", "-m", "rawvision.server.health", check, f"127.0.0.1:{TRITON_PORTS['http']}"]
        assert triton[probe]["timeoutSeconds"] < triton[probe]["periodSeconds"]
    assert triton["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert ports[triton["startupProbe"]["httpGet"]["port"]] == TRITON_PORTS["http"]
    health = (ROOT / "src" / "rawvision" / "server" / "health.py").read_text()
    imports = {line.split()[1] for line in health.splitlines() if line.startswith(("import ", "from "))}
    assert not any(name.startswith(("rawvision", "numpy", "tritonclient", "psutil")) for name in imports), imports


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
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(FRONT_PORTS) | {"metrics"}
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


def test_front_nginx_config_is_generated_from_the_repository(manifests: dict[str, dict[str, Any]]) -> None:
    path = K8S / "front-nginx.yaml"
    admission = Admission(pipelines=repository_bounds(ROOT / "model_repository"))
    assert path.read_text() == kubernetes_configmap(ROOT / "model_repository", admission), \
        "regenerate: rawvision front --write-k8s deploy/k8s/front-nginx.yaml"
    config = manifests["ConfigMap/rawvision-front-nginx"]["data"]["nginx.conf"]
    assert config == kubernetes_config(ROOT / "model_repository", admission=admission)
    assert "limit_conn rawvision_pipeline_" in config  # each model its own bound (capacity × target)
    assert f"client_max_body_size {body_limit(ROOT / 'model_repository')};" in config
    assert "limit_req zone=rawvision burst=" in config and "grpc_pass grpc://triton_grpc;" in config


def mounted_from(manifests: dict[str, dict[str, Any]], path: Path) -> dict[str, Any]:
    """The pod volume that the front container mounts at ``path`` or one of its parents."""
    pod = manifests["Deployment/rawvision"]["spec"]["template"]["spec"]
    mounts = [m for m in container(manifests, "front")["volumeMounts"]
              if path == Path(m["mountPath"]) or Path(m["mountPath"]) in path.parents]
    assert len(mounts) == 1, (path, mounts)
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]]
    return volume  # type: ignore[no-any-return]


def test_front_sidecar_mounts_every_file_its_config_reads(manifests: dict[str, dict[str, Any]]) -> None:
    front = KubernetesFront()
    config = manifests["ConfigMap/rawvision-front-nginx"]["data"]["nginx.conf"]
    sidecar = container(manifests, "front")
    assert sidecar["command"][-1] == "/etc/rawvision-front/nginx.conf"
    assert mounted_from(manifests, Path(sidecar["command"][-1]))["configMap"]["name"] == "rawvision-front-nginx"
    tls = mounted_from(manifests, front.tls / "tls.crt")["secret"]["secretName"]
    assert manifests[f"Secret/{tls}"]["type"] == "kubernetes.io/tls"
    assert f"ssl_certificate {front.tls / 'tls.crt'};" in config
    keys = mounted_from(manifests, front.key_map)["secret"]["secretName"]
    line = manifests[f"Secret/{keys}"]["stringData"][front.key_map.name]
    assert line == key_map_line(line.split()[1].strip('"')) and f"include {front.key_map};" in config
    assert "emptyDir" in mounted_from(manifests, front.root / "nginx.pid")
    assert {p["name"]: p["containerPort"] for p in sidecar["ports"]} == FRONT_PORTS
    for port in FRONT_PORTS.values():
        assert f"listen 0.0.0.0:{port} ssl" in config
    assert "server 127.0.0.1:8000 " in config and "server 127.0.0.1:8001 " in config  # its pod's Triton


def test_only_the_front_and_metrics_are_reachable(manifests: dict[str, dict[str, Any]]) -> None:
    (rule,) = manifests["NetworkPolicy/rawvision-front-only"]["spec"]["ingress"]
    assert {p["port"] for p in rule["ports"]} == {*FRONT_PORTS.values(), TRITON_PORTS["metrics"]}
    selector = manifests["NetworkPolicy/rawvision-front-only"]["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= manifests["Deployment/rawvision"]["spec"]["template"]["metadata"]["labels"].items()
