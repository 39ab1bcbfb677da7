"""A local nginx in front of several Triton servers: the scale-out setup, runnable without Kubernetes.

nginx (Debian package ``nginx``) runs as a child process in the foreground (``daemon off``) with a
generated config in a temporary folder, listening on loopback only. It spreads requests round-robin
over the servers and, when one fails, passes the request on to the next one:

- ``proxy_next_upstream error timeout http_502 http_503 non_idempotent``: a refused or reset connection
  is retried on another server. Inference is a POST, which nginx does not retry by default because
  it may not be idempotent; classifying an image has no side effect, so ``non_idempotent`` is safe here
  and is what saves a request that was in flight on a server as it went away.
- ``max_fails=1 fail_timeout=5s``: a server that failed once gets no traffic for 5 s (a passive health
  check; open-source nginx has no active one), after which one request probes it again.
- No upstream ``keepalive``. Measured on Triton 2.51: on SIGTERM its HTTP server first waits, up to
  30 s, until no client connection is open; nginx's idle keep-alive connections held it there for the
  full 30 s (then it was killed), while traffic kept flowing to it. With one connection per request it
  closed its listener, drained within a second and exited 0, and nginx sent the refused requests to the
  other server (``tests/integration/test_scale_out.py``: 1,452 requests, none failed).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

CONFIG = """daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream triton {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64m;
        location / {{
            proxy_pass http://triton;
            proxy_http_version 1.1;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries {tries};
        }}
    }}
}}
"""


class LoadBalancerError(RuntimeError):
    """nginx is missing or did not start."""


def nginx_config(root: Path, port: int, upstreams: Sequence[str]) -> str:
    """The nginx config for ``upstreams`` (``host:port`` each), listening on ``127.0.0.1:port``."""
    if not upstreams:
        raise ValueError("a load balancer needs at least one upstream server")
    servers = "\n".join(f"        server {address} max_fails=1 fail_timeout=5s;" for address in upstreams)
    return CONFIG.format(root=root, port=port, servers=servers, tries=len(upstreams))


class Nginx:
    """nginx as a foreground child process in front of ``upstreams``; a context manager."""

    def __init__(self, port: int, upstreams: Sequence[str], binary: str = "nginx") -> None:
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
        if found is None:
            raise LoadBalancerError("nginx is not installed (Debian package nginx; `make setup` installs it)")
        self.binary = found
        self.port = port
        self.upstreams = list(upstreams)
        self.root = Path(tempfile.mkdtemp(prefix="rawvision-nginx-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``host:port`` of the balancer, as tritonclient takes it."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Nginx:
        """Write the config, start nginx and wait until it accepts connections."""
        config = self.root / "nginx.conf"
        config.write_text(nginx_config(self.root, self.port, self.upstreams), encoding="utf-8")
        self.process = subprocess.Popen([self.binary, "-p", str(self.root), "-c", str(config),
                                         "-e", str(self.root / "error.log")], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise LoadBalancerError(f"nginx exited: {stderr}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise LoadBalancerError(f"nginx did not listen on port {self.port} within {timeout:.0f} s")

    def error_log(self) -> str:
        """What nginx logged (upstream failures show here)."""
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def stop(self) -> None:
        """Stop nginx (SIGQUIT: graceful) and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(3)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start() if self.process is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
