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

Admission happens here, at the cheapest point (:class:`Admission`):

- ``limit_conn`` bounds the inference requests in flight through the front to ``per_replica`` × replicas.
  It runs in nginx's preaccess phase, after the request header and before the body is read, so a refusal
  costs neither the body's upload into nginx nor any work in Triton.
- ``max_conns`` bounds each replica to ``per_replica``; when every live replica is at its bound nginx has
  no server to pick (502), and that becomes the same refusal.
- Every refusal (the bound, a replica's own full queue, no replica reachable) is ``503`` with
  ``Retry-After`` and a JSON body that says "overloaded" in words; the rate limit's ``429`` carries
  ``Retry-After`` too.
- A storm is met, not dropped: one worker holds 4,096 connections (each proxied request uses two), so
  1,000 clients at once are each answered or refused instead of reset.
- No request hangs: header, body and send timeouts on the client side, connect/send/read timeouts and a
  bounded ``proxy_next_upstream_timeout`` on the server side, so each request is answered or refused
  within ``Admission.answer_within`` seconds.

With a :class:`Guard` the same config becomes the front door (``rawvision front``, ``rawvision.server.front``):
TLS, an API key checked before anything else, a body limit (413), a per-client rate limit (429), health
open without a key, and gRPC proxied over TLS + HTTP/2 with its errors as ``grpc-status`` trailers.

The front door also serves the page (``rawvision.server.page``: static files, no key) at ``/`` with a
strict Content-Security-Policy, and keeps browsers away from everything but inference: a request with an
``Origin`` header (browsers send one on every fetch POST) to the model-repository, logging, trace or
shared-memory APIs gets 403. The one read-only call the page needs, ``POST /v2/repository/index``, is
open to inference key holders; the front adds the admin key (``Guard.admin_key``) to it, and to it only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType

from rawvision.server.embedded import death_signal_prefix

HEAD = """daemon off;
master_process {master};
worker_processes 1;
worker_rlimit_nofile 8192;
pid {root}/nginx.pid;
error_log {error_log} warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log {access_log};
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream triton {{
{servers}
    }}
{admission}"""

# Admission: the bound on requests in flight (one key for every inference request, so the zone counts them
# all), Retry-After on every refusal, and the client-side timeouts that keep a slow client from holding a slot.
# A refusal is not written to the error log (info, below its level): under a storm of thousands a second, each
# line cost the server's core; the access log, buffered, still has every 503.
ADMISSION = """    map $uri $rawvision_all {{
        default "";
        ~^/v2/models/[^/]+(/versions/[^/]+)?/infer$ all;
        ~^/inference\\.GRPCInferenceService/ModelInfer$ all;
    }}
    limit_conn_zone $rawvision_all zone=rawvision_inflight:1m;
    limit_conn_status 503;
    limit_conn_log_level info;
    map $status $rawvision_retry_after {{
        429 {retry_after}; 502 {retry_after}; 503 {retry_after}; 504 {retry_after}; default "";
    }}
    client_header_timeout {client_timeout};
    client_body_timeout {client_timeout};
    send_timeout {client_timeout};
    keepalive_timeout {keepalive};
    keepalive_requests 1000;
"""

# One pipeline's own bound: a zone keyed only on its inference URI (other requests have an empty key and are
# not counted), so a slow pipeline's bound (capacity × target) does not cap a fast one.
PIPELINE_ZONE = """    map $uri $rawvision_in_{index} {{
        default "";
        ~^/v2/models/{name}(/versions/[^/]+)?/infer$ 1;
    }}
    limit_conn_zone $rawvision_in_{index} zone=rawvision_pipeline_{index}:1m;
"""

# Where a refusal is answered: 503 + Retry-After + words, in place of nginx's HTML or Triton's terse message.
OVERLOADED = """        location @overloaded {{
            default_type application/json;
            add_header Retry-After {retry_after} always;
            return 503 '{{"error":"overloaded: every server is busy or away; retry after {retry_after} s"}}';
        }}
"""

PLAIN_HTTP = """    server {{
        listen {host}:{port} backlog=4096;
        client_max_body_size 64m;
        error_page 502 503 504 = @overloaded;
        location /v2/health/ {{
{health}
        }}
        location /v2/repository/ {{
{control_proxy}
        }}
        location / {{
{limit}
{proxy}
        }}
{overloaded}    }}
"""

PROXY = """            proxy_pass http://triton;
            proxy_http_version 1.1;
            proxy_connect_timeout {connect_timeout};
            proxy_send_timeout {client_timeout};
            proxy_read_timeout {read_timeout};
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries {tries};
            proxy_next_upstream_timeout {next_upstream_timeout};"""

# The bound and the refusal, for the locations that carry inference. (The error_page that sends 502-504 to
# @overloaded is on the server: a location's own error_page would hide the server's 401/413/429 pages.)
LIMIT = """            limit_conn rawvision_inflight {inflight};{pipelines}
            proxy_intercept_errors on;
            add_header Retry-After $rawvision_retry_after always;"""

# Health: passed to the readiness service (``rawvision.server.health``) when the front knows one, else to Triton.
HEALTH_PROXY = """            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_connect_timeout {connect_timeout};
            proxy_read_timeout {health_timeout};
            proxy_next_upstream error timeout http_502 http_503 http_504;"""

# The guarded front door. The key check runs in nginx's rewrite phase, before the rate limit, so a caller
# without the key gets 401 and never uses up the budget of the clients that have one. Errors are JSON
# ({"error": ...}) on HTTP, as Triton's own are, and grpc-status trailers on gRPC (nginx's documented
# pattern: a headers-only 204 with grpc-status), so both clients show the reason.
GUARD = """    map $http_authorization $rawvision_authorized {{
        default 0;
        include {key_map};
    }}
{browser_maps}    limit_req_zone $binary_remote_addr zone=rawvision:10m rate={rate};
    limit_req_status 429;
    ssl_certificate {certificate};
    ssl_certificate_key {private_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size {max_body};
    client_body_buffer_size 256k;
    server {{
        listen {host}:{port} ssl backlog=4096;
        error_page 401 = @unauthorized;
        error_page 413 = @too_large;
        error_page 429 = @too_many;
        error_page 502 503 504 = @overloaded;
        error_page 403 = @browser_refused;
        location /v2/health/ {{
{health}
        }}
{page}        location / {{
            if ($rawvision_authorized = 0) {{ return 401; }}
            if ($rawvision_browser_refused) {{ return 403; }}
            limit_req zone=rawvision burst={burst} nodelay;
{limit}
            proxy_set_header Authorization "";
            proxy_set_header rawvision-admin-key $rawvision_admin_key;
            add_header Server-Timing 'upstream;desc="$upstream_header_time"' always;
{proxy}
        }}
        location @browser_refused {{
            default_type application/json;
            return 403 '{{"error":"{browser_refused}"}}';
        }}
        location @unauthorized {{
            default_type application/json;
            add_header WWW-Authenticate 'Bearer realm="rawvision"' always;
            return 401 '{{"error":"missing or wrong API key (header Authorization: Bearer KEY)"}}';
        }}
        location @too_large {{
            default_type application/json;
            return 413 '{{"error":"request body larger than {max_body} bytes (largest max_bytes + margin)"}}';
        }}
        location @too_many {{
            default_type application/json;
            add_header Retry-After {retry_after} always;
            return 429 '{{"error":"rate limit: more than {rate} (burst {burst}) from this client; \
retry after {retry_after} s"}}';
        }}
{overloaded}    }}
"""

GRPC = """    upstream triton_grpc {{
{servers}
    }}
    server {{
        listen {host}:{port} ssl http2;
        error_page 401 = @unauthenticated;
        error_page 413 = @too_large;
        error_page 429 = @too_many;
        error_page 502 503 504 = @unavailable;
        location ~ ^/inference\\.GRPCInferenceService/Server(Live|Ready)$ {{
            grpc_pass grpc://triton_grpc;
        }}
        location / {{
            if ($rawvision_authorized = 0) {{ return 401; }}
            limit_req zone=rawvision burst={burst} nodelay;
            limit_conn rawvision_inflight {inflight};
            grpc_set_header Authorization "";
            grpc_pass grpc://triton_grpc;
            grpc_next_upstream error timeout http_502 http_503 non_idempotent;
            grpc_next_upstream_tries {tries};
            grpc_next_upstream_timeout {next_upstream_timeout};
            grpc_connect_timeout {connect_timeout};
            grpc_read_timeout {read_timeout};
            grpc_send_timeout {client_timeout};
        }}
{grpc_errors}
    }}
"""

# Browsers (a request with an Origin header) reach inference, metadata, config, statistics and the
# repository index only. The admin key goes upstream for the index alone; on every other path the caller's
# own rawvision-admin-key header passes through as before (operators' tools), and none is invented.
BROWSER_MAPS = """    map $uri $rawvision_restricted {{
        default 0;
        /v2/repository/index 0;
        ~^/v2/(repository|logging|trace|systemsharedmemory|cudasharedmemory)(/|$) 1;
        ~^/v2/models/[^/]+(/versions/[^/]+)?/trace/ 1;
    }}
    map "$rawvision_restricted:$http_origin" $rawvision_browser_refused {{
        default 0;
        ~^1:. 1;
    }}
    map $uri $rawvision_admin_key {{
        default $http_rawvision_admin_key;
{admin_key}    }}
"""

BROWSER_REFUSED = ("browsers (requests with an Origin header) may not reach the model-repository, logging, trace "
                   "or shared-memory APIs through the front door")

# The page: three static files, served without the key, with a Content-Security-Policy that allows only
# the page's own script and style, pictures from blob:/data: URLs, and fetches to this origin.
PAGE_FILES = ("index.html", "page.css", "page.js")
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE = """        location = / {{
            root {page};
            try_files /index.html =404;
{page_headers}
        }}
        location ~ ^/(index\\.html|page\\.css|page\\.js)$ {{
            root {page};
{page_headers}
        }}
        location = /favicon.ico {{
            return 204;
        }}
"""
PAGE_HEADERS = """            types {{ text/html html; text/css css; text/javascript js; }}
            charset utf-8;
            charset_types text/html text/css text/javascript;
            add_header Content-Security-Policy "{csp}" always;
            add_header X-Content-Type-Options nosniff always;
            add_header Referrer-Policy no-referrer always;
            add_header Cache-Control no-cache always;"""

# gRPC status codes: 16 UNAUTHENTICATED, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE.
GRPC_ERRORS = {
    "unauthenticated": (16, "missing or wrong API key (metadata authorization: Bearer KEY)"),
    "too_large": (8, "request body larger than {max_body} bytes"),
    "too_many": (8, "rate limit: more than {rate} (burst {burst}) from this client"),
    "unavailable": (14, "overloaded: every server is busy or away; retry after {retry_after} s"),
}

GRPC_ERROR = """        location @{name} {{
            default_type application/grpc;
            add_header grpc-status {code} always;
            add_header grpc-message "{message}" always;
            return 204;
        }}"""

_MODEL_NAME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_KEY_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


@dataclass(frozen=True)
class Admission:
    """How much the front lets through to each replica, and how long anything may take.

    Attributes:
        per_replica: inference requests in flight per replica (``max_conns``); the front as a whole
            admits ``per_replica`` × replicas (``limit_conn``). Sized like the server's queues: a
            replica's capacity × the latency target (``rawvision.pipelines.queue_policy``), so that an
            admitted request waits about the target at most.
        retry_after: seconds a refused client is told to wait (``Retry-After``).
        connect_timeout: seconds to connect to a replica before trying the next.
        read_timeout: seconds between two reads from a replica (a stalled replica counts as failed).
        client_timeout: seconds nginx waits on a client's header, body, or reading of the answer.
        keepalive: seconds an idle client connection is kept.
        pipelines: ``(model name, in flight per replica)`` pairs: each pipeline's own bound on its HTTP
            inference requests (``rawvision.pipelines.queue_policy.inflight_bound``), under ``per_replica``.
        control_timeout: seconds a model-repository call (a load with its warm-up) may take, plain HTTP.
    """

    per_replica: int = 16
    retry_after: int = 1
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    client_timeout: float = 10.0
    keepalive: float = 15.0
    pipelines: tuple[tuple[str, int], ...] = ()
    control_timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.per_replica < 1 or self.retry_after < 1:
            raise ValueError(f"per_replica and retry_after must be at least 1: {self}")
        if min(self.connect_timeout, self.read_timeout, self.client_timeout, self.keepalive,
               self.control_timeout) <= 0:
            raise ValueError(f"timeouts must be positive: {self}")
        for name, bound in self.pipelines:
            if bound < 1 or not name or not set(name) <= _MODEL_NAME_CHARACTERS:
                raise ValueError(f"pipeline {name!r}: a bound of at least 1 and a name of A-Z a-z 0-9 _ . - "
                                 f"(got {bound})")

    @property
    def next_upstream_timeout(self) -> float:
        """Seconds to spend on one request across replicas (retries included)."""
        return self.connect_timeout + self.read_timeout

    @property
    def answer_within(self) -> float:
        """An upper bound on the seconds from a complete request to its answer or refusal."""
        return self.next_upstream_timeout + self.client_timeout


@dataclass(frozen=True)
class Guard:
    """What the front door enforces in front of the servers.

    Attributes:
        api_key: the inference key callers send as ``Authorization: Bearer KEY`` (gRPC: the same metadata);
            None when the key map file comes from elsewhere (a Kubernetes Secret, see ``key_map_line``).
        certificate: PEM certificate (chain) nginx presents.
        private_key: PEM private key of ``certificate``.
        max_body_bytes: largest request body; larger ones get 413 before reaching Triton.
        rate_per_second: sustained requests per second per client address (nginx ``limit_req``).
        burst: requests above the rate accepted at once before 429.
        host: the address nginx listens on (loopback unless told otherwise).
        admin_key: the server's admin key (``rawvision serve --admin-key``), which the front adds to the
            repository index call alone so that key holders (the page) can list the pipelines; None when
            the server has none (the index is then open upstream) or the front should not list.
    """

    api_key: str | None
    certificate: Path
    private_key: Path
    max_body_bytes: int
    rate_per_second: float = 50.0
    burst: int = 100
    host: str = "127.0.0.1"
    admin_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.api_key is not None:
            key_map_line(self.api_key)
        if self.admin_key is not None:
            admin_key_line(self.admin_key)
        if self.max_body_bytes <= 0 or self.rate_per_second <= 0 or self.burst < 0:
            raise ValueError(f"body limit and rate must be positive, burst not negative: {self}")

    @property
    def rate(self) -> str:
        """The rate in nginx's notation (per minute below one per second)."""
        if self.rate_per_second < 1:
            return f"{max(round(self.rate_per_second * 60), 1)}r/m"
        return f"{round(self.rate_per_second)}r/s"


def key_map_line(api_key: str) -> str:
    """The line of nginx's key map that accepts ``api_key``: the file nginx includes, kept out of the config."""
    if len(api_key) < 8 or not set(api_key) <= _KEY_CHARACTERS:
        raise ValueError("the API key must have at least 8 characters from A-Z a-z 0-9 - . _ ~ + / =")
    return f'"Bearer {api_key}" 1;\n'


def admin_key_line(admin_key: str) -> str:
    """The line of nginx's admin-key map that sends ``admin_key`` with the repository index call."""
    if not admin_key or not set(admin_key) <= _KEY_CHARACTERS:
        raise ValueError("the admin key must be non-empty, with characters from A-Z a-z 0-9 - . _ ~ + / =")
    return f'        /v2/repository/index "{admin_key}";\n'


def page_locations(page: Path | None) -> str:
    """The front's locations for the page's files in the folder ``page`` (nothing when None)."""
    if page is None:
        return ""
    return PAGE.format(page=page, page_headers=PAGE_HEADERS.format(csp=CONTENT_SECURITY_POLICY))


def nginx_config(root: Path, port: int, upstreams: Sequence[str], grpc_port: int | None = None,
                 grpc_upstreams: Sequence[str] = (), guard: Guard | None = None, key_map: Path | None = None,
                 log_to_stderr: bool = False, admission: Admission = Admission(),
                 health_upstreams: Sequence[str] = (), page: Path | None = None, host: str = "127.0.0.1",
                 single_process: bool = False) -> str:
    """The nginx config for ``upstreams`` (``host:port`` each), listening on ``127.0.0.1:port``.

    With ``guard``, HTTP takes TLS, the API key, the body limit and the rate limit; with ``grpc_port``
    and ``grpc_upstreams`` (Triton's gRPC ports), gRPC is proxied too (TLS + HTTP/2, needs ``guard``).
    ``admission`` bounds what is in flight and how long anything takes. ``/v2/health/`` goes to
    ``health_upstreams`` (readiness services, ``rawvision.server.health``) when given, else to Triton.
    The key map (``key_map_line``) is read from ``key_map``, by default ``root/api-key.map``; logs go
    to ``root`` unless ``log_to_stderr`` (containers). With ``page`` (a folder holding ``PAGE_FILES``) the
    guarded front serves the page at ``/``; the guard's admin key is read from ``root/admin-key.map``.
    Plain HTTP listens on ``host`` (the guard's own host otherwise) and gives model-repository calls
    ``admission.control_timeout``. ``single_process`` (``master_process off``): one process that serves, which
    ``setpriv --pdeathsig`` can tie to its parent (a master's workers outlive a killed master, holding the port).
    """
    if not upstreams:
        raise ValueError("a load balancer needs at least one upstream server")
    if (grpc_port is None) != (not grpc_upstreams):
        raise ValueError("gRPC needs both a port and upstream servers")
    if grpc_port is not None and guard is None:
        raise ValueError("gRPC is proxied by the guarded front door only (TLS + HTTP/2)")
    logs = {"error_log": "stderr", "access_log": "/dev/stdout"} if log_to_stderr else \
        {"error_log": f"{root}/error.log", "access_log": f"{root}/access.log combined buffer=64k flush=1s"}
    timing = {"connect_timeout": _seconds(admission.connect_timeout), "read_timeout": _seconds(admission.read_timeout),
              "client_timeout": _seconds(admission.client_timeout),
              "next_upstream_timeout": _seconds(admission.next_upstream_timeout)}
    admission_block = ADMISSION.format(retry_after=admission.retry_after, keepalive=_seconds(admission.keepalive),
                                       **timing)
    admission_block += "".join(PIPELINE_ZONE.format(index=index, name=name.replace(".", "\\."))
                               for index, (name, _bound) in enumerate(admission.pipelines))
    # Health has its own upstream: a probe must not use up an inference slot nor mark a replica failed.
    admission_block += f"    upstream rawvision_health {{\n{_servers(health_upstreams or upstreams, None)}\n    }}\n"
    head = HEAD.format(root=root, servers=_servers(upstreams, admission.per_replica), admission=admission_block,
                       master="off" if single_process else "on", **logs)
    proxy = PROXY.format(tries=len(upstreams), **timing)
    pipelines = "".join(f"\n            limit_conn rawvision_pipeline_{index} {bound * len(upstreams)};"
                        for index, (_name, bound) in enumerate(admission.pipelines))
    limit = LIMIT.format(inflight=admission.per_replica * len(upstreams), pipelines=pipelines)
    health = HEALTH_PROXY.format(upstream="rawvision_health", connect_timeout=timing["connect_timeout"],
                                 health_timeout="5s")
    overloaded = OVERLOADED.format(retry_after=admission.retry_after)
    if guard is None:
        control = PROXY.format(tries=len(upstreams), **{**timing, "read_timeout": _seconds(admission.control_timeout),
                                                        "next_upstream_timeout": _seconds(admission.control_timeout)})
        return head + PLAIN_HTTP.format(host=host, port=port, proxy=proxy, limit=limit, health=health,
                                        control_proxy=control, overloaded=overloaded) + "}\n"
    values = {"key_map": key_map or root / "api-key.map", "rate": guard.rate, "burst": guard.burst,
              "max_body": guard.max_body_bytes, "certificate": guard.certificate,
              "private_key": guard.private_key, "host": guard.host, "retry_after": admission.retry_after}
    admin = f"        include {root / 'admin-key.map'};\n" if guard.admin_key is not None else ""
    text = head + GUARD.format(port=port, proxy=proxy, limit=limit, health=health, overloaded=overloaded,
                               browser_maps=BROWSER_MAPS.format(admin_key=admin), page=page_locations(page),
                               browser_refused=BROWSER_REFUSED, **values)
    if grpc_port is not None:
        errors = "\n".join(GRPC_ERROR.format(name=name, code=code, message=message.format(**values))
                           for name, (code, message) in GRPC_ERRORS.items())
        text += GRPC.format(servers=_servers(grpc_upstreams, admission.per_replica), port=grpc_port,
                            tries=len(grpc_upstreams), grpc_errors=errors,
                            inflight=admission.per_replica * len(grpc_upstreams), **timing, **values)
    return text + "}\n"


def _seconds(value: float) -> str:
    """A duration in nginx's notation (milliseconds when not whole seconds)."""
    return f"{value:g}s" if float(value).is_integer() else f"{round(value * 1000)}ms"


def copy_page(folder: Path) -> Path:
    """Copy the page's files from the package into ``folder`` (readable by nginx's unprivileged workers)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    source = resources.files("rawvision.server").joinpath("page")
    for name in PAGE_FILES:
        target = folder / name
        target.write_bytes(source.joinpath(name).read_bytes())
        target.chmod(0o644)
    return folder


def _servers(upstreams: Sequence[str], max_conns: int | None) -> str:
    bound = f" max_conns={max_conns} max_fails=1 fail_timeout=5s" if max_conns else " max_fails=0"
    return "\n".join(f"        server {address}{bound};" for address in upstreams)


class LoadBalancerError(RuntimeError):
    """nginx is missing or did not start."""


class Nginx:
    """nginx as a foreground child process in front of ``upstreams``; a context manager."""

    def __init__(self, port: int, upstreams: Sequence[str], binary: str = "nginx", *, grpc_port: int | None = None,
                 grpc_upstreams: Sequence[str] = (), guard: Guard | None = None,
                 admission: Admission = Admission(), health_upstreams: Sequence[str] = (),
                 host: str = "127.0.0.1", single_process: bool = False, niceness: int = 0) -> None:
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
        if found is None:
            raise LoadBalancerError("nginx is not installed (Debian package nginx; `make setup` installs it)")
        self.binary = found
        self.port = port
        self.upstreams = list(upstreams)
        self.grpc_port = grpc_port
        self.grpc_upstreams = list(grpc_upstreams)
        self.guard = guard
        self.admission = admission
        self.health_upstreams = list(health_upstreams)
        self._host = host
        self.single_process = single_process
        self.niceness = niceness  # > 0: the servers' work beside it comes first when the CPU is short
        self.root = Path(tempfile.mkdtemp(prefix="rawvision-nginx-"))
        # Started as root, nginx's workers run as an unprivileged user; they must reach the temp folders
        # where bodies above client_body_buffer_size go. (The key map is read by the master only.)
        self.root.chmod(0o755)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``host:port`` of the balancer (HTTP), as tritonclient takes it."""
        return f"{self.host}:{self.port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC listener (only with ``grpc_port``)."""
        if self.grpc_port is None:
            raise LoadBalancerError("this nginx proxies no gRPC")
        return f"{self.host}:{self.grpc_port}"

    @property
    def host(self) -> str:
        """The address nginx listens on."""
        return self.guard.host if self.guard else self._host

    def start(self, timeout: float = 30.0) -> Nginx:
        """Write the config, start nginx and wait until it accepts connections."""
        config = self.root / "nginx.conf"
        if self.guard is not None and self.guard.api_key is not None:
            key_map = self.root / "api-key.map"
            key_map.touch(mode=0o600)
            key_map.write_text(key_map_line(self.guard.api_key), encoding="utf-8")
        page = None
        if self.guard is not None:
            if self.guard.admin_key is not None:
                admin_map = self.root / "admin-key.map"
                admin_map.touch(mode=0o600)
                admin_map.write_text(admin_key_line(self.guard.admin_key), encoding="utf-8")
            page = copy_page(self.root / "page")
        config.write_text(nginx_config(self.root, self.port, self.upstreams, self.grpc_port, self.grpc_upstreams,
                                       self.guard, admission=self.admission,
                                       health_upstreams=self.health_upstreams, page=page, host=self.host,
                                       single_process=self.single_process), encoding="utf-8")
        # A single process dies with its parent (setpriv); a master's workers would not, so it is not tied.
        tie = death_signal_prefix() if self.single_process else []
        nice = ["nice", "-n", str(self.niceness)] if self.niceness else []
        self.process = subprocess.Popen([*tie, *nice, self.binary, "-p", str(self.root), "-c", str(config),
                                         "-e", str(self.root / "error.log")], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        ports = [self.port] + ([self.grpc_port] if self.grpc_port is not None else [])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise LoadBalancerError(f"nginx exited: {stderr}")
            try:
                for port in ports:
                    socket.create_connection((self.host, port), timeout=1).close()
                if self.process.poll() is None:  # not another process on the same port
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
