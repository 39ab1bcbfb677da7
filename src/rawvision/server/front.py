"""The guarded front door: nginx with TLS, an inference API key, a body limit and a rate limit.

nginx (Debian package ``nginx``) runs through :class:`rawvision.server.nginx.Nginx` with a
:class:`~rawvision.server.nginx.Guard`; this module derives the guard's values: a self-signed
certificate made with the ``openssl`` command (Debian package ``openssl``) for tests and demos, and the
body limit from the served models' decode limits (``max_bytes`` in the preprocessing configs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rawvision.repository import decode_limits, ensemble_names, model_config
from rawvision.server.nginx import Admission, Guard, nginx_config

API_KEY_ENV = "RAWVISION_API_KEY"
# Room for what travels with the image in one request: the JSON header of Triton's binary-tensor
# extension (a few hundred bytes), the 4-byte length prefix, gRPC's protobuf framing.
HEADER_MARGIN = 64 * 1024


class FrontError(RuntimeError):
    """The front door cannot be set up (no openssl, bad certificate paths)."""


@dataclass(frozen=True)
class Certificate:
    """A PEM certificate and its private key on disk."""

    certificate: Path
    private_key: Path


def self_signed_certificate(folder: Path, names: Sequence[str] = ("localhost", "127.0.0.1"),
                            days: int = 30) -> Certificate:
    """Make a self-signed certificate for ``names`` (DNS names or IP addresses) with the ``openssl`` CLI.

    For tests and demos: clients trust it by using the certificate itself as their root
    (``--ca-cert``; tritonclient's ``ssl_options={"ca_certs": ...}`` or gRPC's ``root_certificates``).
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FrontError("openssl is not installed (Debian package openssl; `make setup` installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    result = Certificate(folder / "front.crt", folder / "front.key")
    alt_names = ",".join(f"IP:{n}" if n.replace(".", "").isdigit() or ":" in n else f"DNS:{n}" for n in names)
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(result.private_key), "-out", str(result.certificate),
                    "-days", str(days), "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={alt_names}"],
                   check=True, capture_output=True)
    os.chmod(result.private_key, 0o600)
    return result


def entry_steps(repository: Path, ensemble: str) -> list[str]:
    """The steps of ``ensemble`` that read one of its inputs (the preprocessing steps that decode)."""
    config = model_config(repository, ensemble)
    inputs = {tensor.name for tensor in config.input}
    return [step.model_name for step in config.ensemble_scheduling.step
            if inputs & set(step.input_map.values())]


def body_limit(repository: Path, ensembles: Sequence[str] = ()) -> int:
    """The largest request body to let through: the ensembles' largest entry ``max_bytes`` plus a margin.

    Every ensemble of the repository when ``ensembles`` is empty. One request thus carries at most one
    image of the largest size the decoder accepts; larger batches must be split by the client.
    """
    names = list(ensembles) or ensemble_names(repository)
    steps = {step for name in names for step in entry_steps(repository, name)}
    if not steps:
        raise FrontError(f"no ensemble with an entry step among {names} in {repository}")
    return max(decode_limits(repository, step).max_bytes for step in steps) + HEADER_MARGIN


@dataclass(frozen=True)
class KubernetesFront:
    """Where the front door's nginx sidecar finds its files in the pod (deploy/k8s/front.yaml)."""

    root: Path = Path("/tmp/nginx")
    tls: Path = Path("/etc/rawvision-front/tls")
    key_map: Path = Path("/etc/rawvision-front/api-key/api-key.map")
    port: int = 8443
    grpc_port: int = 8444
    rate_per_second: float = 50.0
    burst: int = 100


def kubernetes_config(repository: Path, front: KubernetesFront = KubernetesFront(),
                      admission: Admission | None = None) -> str:
    """The sidecar's nginx.conf: the same generator as ``rawvision front``, in front of its pod's Triton."""
    guard = Guard(None, front.tls / "tls.crt", front.tls / "tls.key", body_limit(repository),
                  front.rate_per_second, front.burst, "0.0.0.0")
    return nginx_config(front.root, front.port, ["127.0.0.1:8000"], front.grpc_port, ["127.0.0.1:8001"], guard,
                        key_map=front.key_map, log_to_stderr=True, admission=admission or Admission())


def kubernetes_configmap(repository: Path, admission: Admission | None = None) -> str:
    """deploy/k8s/front-nginx.yaml: a ConfigMap holding :func:`kubernetes_config`."""
    body = "".join(f"    {line}\n" if line else "\n"
                   for line in kubernetes_config(repository, admission=admission).splitlines())
    return ("# Generated by `rawvision front --write-k8s deploy/k8s/front-nginx.yaml` from the repository's\n"
            "# max_bytes; tests/unit/test_k8s_manifests.py regenerates and compares. Do not edit by hand.\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rawvision-front-nginx\ndata:\n"
            f"  nginx.conf: |\n{body}")
