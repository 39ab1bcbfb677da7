"""The front door's config: what it derives from the repository, and that nginx itself accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rawvision.pipelines.admission import MIN_TOTAL_INFLIGHT, gate_admission, repository_gate
from rawvision.pipelines.queue_policy import inflight_bound
from rawvision.repository import decode_limits
from rawvision.server.front import (
    HEADER_MARGIN,
    KubernetesFront,
    body_limit,
    kubernetes_config,
    self_signed_certificate,
)
from rawvision.server.nginx import Admission, Guard, key_map_line, nginx_config

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def test_body_limit_is_the_largest_entry_max_bytes_plus_a_margin() -> None:
    mnist = decode_limits(REPOSITORY, "mnist_preprocess").max_bytes
    imagenet = decode_limits(REPOSITORY, "imagenet_preprocess").max_bytes
    assert mnist < imagenet
    assert body_limit(REPOSITORY, ["mnist"]) == mnist + HEADER_MARGIN
    assert body_limit(REPOSITORY, ["mnist", "imagenet"]) == imagenet + HEADER_MARGIN
    assert body_limit(REPOSITORY) >= imagenet + HEADER_MARGIN


def test_key_map_line_accepts_only_plain_keys() -> None:
    assert key_map_line("abcdefgh-123") == '"Bearer abcdefgh-123" 1;\n'
    for bad in ("short", 'has"quote1', "has space 1", "semi;colon1"):
        with pytest.raises(ValueError):
            key_map_line(bad)


def guard(tmp_path: Path, rate: float = 50.0) -> Guard:
    certificate = self_signed_certificate(tmp_path / "cert")
    return Guard("the-api-key-1", certificate.certificate, certificate.private_key, 2_000_000, rate, 3)


def test_guarded_config_keeps_the_key_out_and_limits_body_rate_and_health(tmp_path: Path) -> None:
    text = nginx_config(tmp_path, 9443, ["127.0.0.1:1"], 9444, ["127.0.0.1:2"], guard(tmp_path))
    assert "the-api-key-1" not in text and f"include {tmp_path / 'api-key.map'};" in text
    assert "client_max_body_size 2000000;" in text and "rate=50r/s" in text and "burst=3 nodelay" in text
    assert "listen 127.0.0.1:9443 ssl backlog=4096;" in text and "listen 127.0.0.1:9444 ssl http2;" in text
    assert text.count("return 401;") == 2  # HTTP and gRPC
    assert "location /v2/health/ {" in text
    assert "rate=3r/m" in nginx_config(tmp_path, 9443, ["127.0.0.1:1"], guard=guard(tmp_path, rate=0.05))


def test_admission_bounds_in_flight_refuses_with_retry_after_and_times_everything(tmp_path: Path) -> None:
    text = nginx_config(tmp_path, 9443, ["127.0.0.1:1", "127.0.0.1:2"], 9444, ["127.0.0.1:3"], guard(tmp_path),
                        admission=Admission(per_replica=7, read_timeout=12.5), health_upstreams=["127.0.0.1:9"])
    assert text.count("max_conns=7") == 3  # both HTTP replicas and the gRPC one
    assert "limit_conn rawvision_inflight 14;" in text and "limit_conn rawvision_inflight 7;" in text
    assert "error_page 502 503 504 = @overloaded;" in text and "add_header Retry-After 1 always;" in text
    inference = text.split("location / {", 1)[1].split("}", 1)[0]
    assert "error_page" not in inference  # it would hide the server's 401/413/429 pages
    assert "add_header Retry-After $rawvision_retry_after always;" in text and "overloaded" in text
    assert "proxy_read_timeout 12500ms;" in text and "client_body_timeout 10s;" in text
    assert "proxy_next_upstream error timeout http_502 http_503 non_idempotent;" in text
    health = text.split("upstream rawvision_health {", 1)[1].split("}", 1)[0]
    assert "127.0.0.1:9 max_fails=0" in health and "127.0.0.1:1" not in health
    location = text.split("location /v2/health/ {", 1)[1].split("}", 1)[0]
    assert "proxy_pass http://rawvision_health;" in location and "limit_conn" not in location
    with pytest.raises(ValueError):
        Admission(per_replica=0)


def test_each_pipeline_has_its_own_bound_on_its_inference_uri_alone(tmp_path: Path) -> None:
    admission = Admission(per_replica=30, pipelines=(("imagenet", 25), ("mnist", 650)))
    text = nginx_config(tmp_path, 9000, ["127.0.0.1:1", "127.0.0.1:2"], admission=admission, host="0.0.0.0")
    assert "listen 0.0.0.0:9000 backlog=4096;" in text
    assert "limit_conn rawvision_pipeline_0 50;" in text and "limit_conn rawvision_pipeline_1 1300;" in text
    assert "~^/v2/models/imagenet(/versions/[^/]+)?/infer$ 1;" in text
    assert "limit_conn rawvision_inflight 60;" in text
    global_key = text.split("map $uri $rawvision_all {", 1)[1].split("}", 1)[0]
    assert "default \"\";" in global_key and "/infer$ all;" in global_key  # metadata and control are not counted
    control = text.split("location /v2/repository/ {", 1)[1].split("}", 1)[0]
    assert "limit_conn" not in control and "proxy_read_timeout 300s;" in control
    assert "master_process on;" in text
    with pytest.raises(ValueError, match="pipeline"):
        Admission(pipelines=(("bad name", 3),))
    with pytest.raises(ValueError, match="pipeline"):
        Admission(pipelines=(("imagenet", 0),))


def test_the_gate_bounds_each_ensemble_by_capacity_times_target() -> None:
    gate = repository_gate(REPOSITORY, "127.0.0.1", 8000)
    bounds = dict(gate.admission.pipelines)
    assert {"imagenet", "mnist", "faces", "ocr"} <= set(bounds)
    assert bounds["imagenet"] == inflight_bound("imagenet") == 25  # 48.6 img/s × 0.5 s
    assert gate.admission.per_replica == max(bounds.values())
    assert gate_admission([]).per_replica == MIN_TOTAL_INFLIGHT


def test_grpc_needs_the_guard_and_upstreams(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        nginx_config(tmp_path, 9443, ["127.0.0.1:1"], 9444, ["127.0.0.1:2"])
    with pytest.raises(ValueError):
        nginx_config(tmp_path, 9443, ["127.0.0.1:1"], 9444, [], guard(tmp_path))


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make setup)")
@pytest.mark.parametrize("where", ["local", "kubernetes", "gate"])
def test_nginx_accepts_the_generated_config(tmp_path: Path, where: str) -> None:
    assert NGINX is not None
    local = guard(tmp_path)
    key_map = tmp_path / "api-key.map"
    key_map.write_text(key_map_line("the-api-key-1"))
    if where == "gate":
        text = nginx_config(tmp_path, 9000, ["127.0.0.1:1"], admission=repository_gate(REPOSITORY, "", 0).admission,
                            single_process=True)
        assert "master_process off;" in text
    elif where == "local":
        text = nginx_config(tmp_path, 9443, ["127.0.0.1:1"], 9444, ["127.0.0.1:2"], local)
    else:  # the sidecar's config, with its pod paths moved under tmp_path
        front = KubernetesFront()
        text = kubernetes_config(REPOSITORY).replace(str(front.key_map), str(key_map)) \
            .replace(str(front.tls / "tls.crt"), str(local.certificate)) \
            .replace(str(front.tls / "tls.key"), str(local.private_key)).replace(str(front.root), str(tmp_path))
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(config), "-e", str(tmp_path / "e.log")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
