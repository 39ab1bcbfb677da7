"""``rawvision front``: the guarded nginx front door in front of running Triton servers, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from rawvision.pipelines.admission import repository_bounds
from rawvision.pipelines.queue_policy import ADMISSION_TARGET_SECONDS
from rawvision.server.control import ADMIN_KEY_ENV, admin_key_from_env
from rawvision.server.front import (
    API_KEY_ENV,
    Certificate,
    FrontError,
    body_limit,
    kubernetes_configmap,
    self_signed_certificate,
)
from rawvision.server.nginx import Admission, Guard, LoadBalancerError, Nginx


def _certificate(args: argparse.Namespace) -> Certificate:
    if bool(args.cert) != bool(args.key):
        raise FrontError("give both --cert and --key, or neither (then a self-signed one is made)")
    if args.cert:
        for path in (args.cert, args.key):
            if not path.is_file():
                raise FrontError(f"{path} is not a file")
        return Certificate(args.cert.resolve(), args.key.resolve())
    certificate = self_signed_certificate(args.cert_dir.resolve(), (args.server_name, args.host))
    print(f"self-signed certificate for {args.server_name}, {args.host}: {certificate.certificate} "
          "(clients: --ca-cert that file)", flush=True)
    return certificate


def _run(args: argparse.Namespace) -> int:
    pipelines = repository_bounds(args.repository) if args.repository.is_dir() else ()
    if args.write_k8s:
        args.write_k8s.write_text(kubernetes_configmap(args.repository, Admission(pipelines=pipelines)),
                                  encoding="utf-8")
        print(f"wrote {args.write_k8s}")
        return 0
    if not args.upstream:
        print("error: give at least one --upstream", file=sys.stderr)
        return 2
    if not args.api_key:
        print(f"error: give --api-key or set ${API_KEY_ENV}", file=sys.stderr)
        return 2
    try:
        certificate = _certificate(args)
        limit = args.max_body or body_limit(args.repository, args.ensemble)
        guard = Guard(args.api_key, certificate.certificate, certificate.private_key, limit, args.rate, args.burst,
                      args.host, admin_key=args.admin_key or None)
        nginx = Nginx(args.port, args.upstream, grpc_port=args.grpc_port if args.grpc_upstream else None,
                      grpc_upstreams=args.grpc_upstream, guard=guard,
                      admission=Admission(per_replica=args.per_replica, read_timeout=args.read_timeout,
                                          pipelines=pipelines),
                      health_upstreams=args.health_upstream).start()
    except (FrontError, LoadBalancerError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    grpc = f"  gRPC {nginx.grpc_url} (TLS)" if args.grpc_upstream else ""
    print(f"front door: HTTPS https://{nginx.url}{grpc}; body ≤ {limit} bytes, {guard.rate} per client "
          f"(burst {guard.burst}); "
          f"{args.per_replica} in flight per replica (and each model its own bound: capacity × "
          f"{ADMISSION_TARGET_SECONDS:g} s), then 503 + Retry-After; "
          f"config {nginx.root / 'nginx.conf'}  (Ctrl-C stops)", flush=True)
    print(_page_hint(args), flush=True)
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped.wait(1.0):
            if nginx.process is None or nginx.process.poll() is not None:
                print(f"error: nginx exited:\n{nginx.error_log()[-2000:]}", file=sys.stderr)
                return 1
    finally:
        nginx.stop()
        for sig, handler in previous.items():  # called in-process (tests), the caller's handlers come back
            signal.signal(sig, handler)
    return 0


def _page_hint(args: argparse.Namespace) -> str:
    """Where to open the page, and what it needs."""
    host = args.server_name if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host
    hint = f"the page: open https://{host}:{args.port}/ and enter the inference key"
    if not args.admin_key:
        hint += (f" (it lists the pipelines if the server has no admin key; if it has one, give it with --admin-key "
                 f"or ${ADMIN_KEY_ENV}, or open /?model=NAME)")
    return hint


def add_front_parser(commands: Any, default_repository: Path) -> None:
    """Register ``rawvision front`` on the top-level subcommands."""
    front = commands.add_parser("front", help="guarded front door (nginx: TLS, API key, body and rate limits) "
                                "in front of running servers")
    front.add_argument("--upstream", action="append", default=[], metavar="HOST:PORT",
                       help="a Triton HTTP endpoint; repeatable")
    front.add_argument("--grpc-upstream", action="append", default=[], metavar="HOST:PORT",
                       help="a Triton gRPC endpoint; repeatable (none: no gRPC)")
    front.add_argument("--host", default="127.0.0.1", help="address to listen on")
    front.add_argument("--port", type=int, default=8443, help="HTTPS port")
    front.add_argument("--grpc-port", type=int, default=8444, help="gRPC (TLS) port")
    front.add_argument("--api-key", default=os.environ.get(API_KEY_ENV),
                       help=f"inference key, sent as 'Authorization: Bearer KEY' (default: ${API_KEY_ENV})")
    front.add_argument("--admin-key", default=admin_key_from_env(),
                       help="the server's admin key, sent upstream with the repository index call alone so the page "
                       f"can list pipelines (default: ${ADMIN_KEY_ENV})")
    front.add_argument("--cert", type=Path, help="PEM certificate (default: a self-signed one)")
    front.add_argument("--key", type=Path, help="PEM private key of --cert")
    front.add_argument("--cert-dir", type=Path, default=Path("front-cert"),
                       help="where the self-signed certificate is written")
    front.add_argument("--server-name", default="localhost", help="DNS name in the self-signed certificate")
    front.add_argument("--repository", type=Path, default=default_repository,
                       help="read the body limit from its preprocessing configs (max_bytes)")
    front.add_argument("--ensemble", action="append", default=[],
                       help="served ensembles for the body limit; repeatable (default: all)")
    front.add_argument("--max-body", type=int, help="body limit in bytes (default: from the repository)")
    front.add_argument("--rate", type=float, default=50.0, help="requests per second per client address")
    front.add_argument("--burst", type=int, default=100, help="requests above the rate accepted at once")
    front.add_argument("--per-replica", type=int, default=Admission.per_replica,
                       help="inference requests in flight per replica; more are refused (503 + Retry-After) before "
                       "their body is read (a replica's capacity × latency target)")
    front.add_argument("--read-timeout", type=float, default=Admission.read_timeout,
                       help="seconds a replica may stay silent before the request goes to another")
    front.add_argument("--health-upstream", action="append", default=[], metavar="HOST:PORT",
                       help="a readiness service (`rawvision health --serve`) per replica for /v2/health/; "
                       "repeatable (none: Triton's own health)")
    front.add_argument("--write-k8s", type=Path, metavar="YAML",
                       help="only write the Kubernetes sidecar's nginx ConfigMap (deploy/k8s/front-nginx.yaml)")
    front.set_defaults(run=_run)
