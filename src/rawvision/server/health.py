"""Health that tells the truth: readiness that sees dead Python-backend stubs, liveness that sees a hung server.

Triton 2.51's ``/v2/health/ready`` stays 200 while a Python-backend stub is dead (the model stays READY and
every request fails with "Stub process ... is not healthy"; server issues #8604, #7230), and a failed
load of a model that another model calls by BLS does not show there either. So readiness here is:

- Triton's own ``/v2/health/ready`` answers 200 within the timeout;
- every model the repository index reports READY is checked: a Python-backend model has one live stub
  process per instance (``/proc``: children of the server named ``triton_python_backend_stub`` whose
  model file is that model's, zombies not counted);
- no model's load failed (the index's UNAVAILABLE with a reason other than an unload).

Liveness is ``/v2/health/live`` answered within the timeout by a server process that is not stopped: a
hung (or SIGSTOPped) server does not answer, and a liveness probe then restarts it.

Only the standard library, so it runs as an exec probe in NVIDIA's container (``rawvision health
--check ready``) as well as a small HTTP service (``--serve PORT``) that the front's ``/v2/health/``
uses (``rawvision front --health-upstream``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger(__name__)
STUB_NAME = "triton_python_backend_stub"
ADMIN_HEADER = "rawvision-admin-key"  # as rawvision.server.control names it; this module needs only the stdlib
ADMIN_KEY_ENV = "RAWVISION_ADMIN_KEY"
SERVER_NAME = "tritonserver"


@dataclass(frozen=True)
class Verdict:
    """A health answer: whether the server is ready (or live), and the problems that say why not."""

    ok: bool
    problems: tuple[str, ...] = ()

    def body(self) -> bytes:
        """The JSON body a probe or a person reads."""
        return json.dumps({"ok": self.ok, "problems": list(self.problems)}).encode()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _stat(pid: int) -> tuple[str, int]:
    """``(state, parent pid)`` of ``pid`` from ``/proc/<pid>/stat`` (``("", 0)`` when it is gone)."""
    text = _read(Path(f"/proc/{pid}/stat")).decode(errors="replace")
    tail = text[text.rfind(")") + 2:].split()
    return (tail[0], int(tail[1])) if len(tail) > 1 else ("", 0)


def _cmdline(pid: int) -> list[str]:
    return [part.decode(errors="replace") for part in _read(Path(f"/proc/{pid}/cmdline")).split(b"\0") if part]


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def live_stubs(server_pid: int) -> Counter[str]:
    """Live (not zombie) Python-backend stub processes of the server, counted per model name."""
    counts: Counter[str] = Counter()
    for pid in _pids():
        state, parent = _stat(pid)
        if parent != server_pid or state in ("Z", "X", ""):
            continue
        command = _cmdline(pid)
        if len(command) > 1 and Path(command[0]).name == STUB_NAME:
            counts[Path(command[1]).parents[1].name] += 1  # <repository>/<model>/<version>/model.py
    return counts


def find_server(http_port: int) -> int | None:
    """The pid of the ``tritonserver`` serving HTTP on ``http_port`` (Triton's default port is 8000)."""
    for pid in _pids():
        command = _cmdline(pid)
        if not command or Path(command[0]).name != SERVER_NAME:
            continue
        ports = [arg.split("=", 1)[1] for arg in command if arg.startswith("--http-port=")]
        if (ports[-1] if ports else "8000") == str(http_port):
            return pid
    return None


def _get(url: str, timeout: float) -> tuple[int, Any]:
    """``(status, parsed JSON body or None)``; status 0 when nothing answered in time."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
            return response.status, json.loads(data) if data else None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def expected_stubs(config: dict[str, Any]) -> int:
    """Stub processes a loaded Python-backend model runs: one per instance (0 for other backends)."""
    if config.get("backend") != "python":
        return 0
    groups = config.get("instance_group") or [{"count": 1}]
    return sum(int(group.get("count", 1)) for group in groups)


def _index(base: str, timeout: float, admin_key: str | None) -> list[dict[str, Any]] | None:
    """Triton's repository index (POST, with the admin key when the API is restricted); None if refused."""
    headers = {"Content-Type": "application/json", **({ADMIN_HEADER: admin_key} if admin_key else {})}
    request = urllib.request.Request(f"{base}/v2/repository/index", b"{}", headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            rows = json.loads(response.read())
            return rows if isinstance(rows, list) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def readiness(http_url: str, server_pid: int | None, timeout: float = 2.0,
              admin_key: str | None = None) -> Verdict:
    """Whether the server at ``http_url`` (``host:port``) can answer every served pipeline now.

    The served models come from the repository index (``admin_key``, default ``$RAWVISION_ADMIN_KEY``,
    when the repository API is restricted): every READY model must have its stubs, and a model whose load
    failed (UNAVAILABLE for any reason but an unload) makes the server not ready.
    """
    base = f"http://{http_url}"
    if server_pid is None:
        return Verdict(False, ("no tritonserver process found",))
    status, _ = _get(f"{base}/v2/health/ready", timeout)
    if status != 200:
        return Verdict(False, (f"tritonserver /v2/health/ready answered {status or 'nothing'}",))
    index = _index(base, timeout, admin_key if admin_key is not None else os.environ.get(ADMIN_KEY_ENV))
    if index is None:
        return Verdict(False, ("the repository index was refused (admin key?) or did not answer",))
    problems = []
    stubs = live_stubs(server_pid)
    ready = sorted({row["name"] for row in index if row.get("state") == "READY"})
    for row in index:
        reason = str(row.get("reason", ""))
        if row.get("state") == "UNAVAILABLE" and "unloaded" not in reason and row["name"] not in ready:
            problems.append(f"{row['name']}: load failed: {reason[:200]}")
    for model in ready:
        status, config = _get(f"{base}/v2/models/{model}/config", timeout)
        want = expected_stubs(config) if status == 200 and isinstance(config, dict) else 0
        if stubs[model] < want:
            problems.append(f"{model}: {stubs[model]} of {want} stub processes alive")
    return Verdict(not problems, tuple(problems))


def liveness(http_url: str, server_pid: int | None, timeout: float = 5.0) -> Verdict:
    """Whether the server process is there, not stopped, and answers ``/v2/health/live`` in time."""
    if server_pid is None:
        return Verdict(False, ("no tritonserver process found",))
    state, _ = _stat(server_pid)
    if state in ("", "Z", "X"):
        return Verdict(False, (f"tritonserver {server_pid} has exited",))
    if state in ("T", "t"):
        return Verdict(False, (f"tritonserver {server_pid} is stopped",))
    status, _ = _get(f"http://{http_url}/v2/health/live", timeout)
    if status != 200:
        return Verdict(False, (f"/v2/health/live answered {status or 'nothing'} within {timeout:g} s",))
    return Verdict(True)


class HealthServer:
    """A small HTTP service answering ``/v2/health/ready`` and ``/v2/health/live`` with the truth.

    ``server_pid`` is asked on every probe, so a supervisor that restarts tritonserver (a new pid) can
    pass a callable that returns the current one.
    """

    def __init__(self, port: int, http_url: str, server_pid: Callable[[], int | None],
                 host: str = "127.0.0.1", admin_key: str | None = None) -> None:
        checks = {"/v2/health/ready": lambda: readiness(http_url, server_pid(), admin_key=admin_key),
                  "/v2/health/live": lambda: liveness(http_url, server_pid())}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                check = checks.get(self.path.split("?")[0])
                verdict = check() if check else Verdict(False, (f"no such path {self.path}",))
                body = verdict.body()
                self.send_response(200 if verdict.ok else (503 if check else 404))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                LOGGER.debug(format, *args)

        self.http = ThreadingHTTPServer((host, port), Handler)
        self.http.daemon_threads = True
        self.url = f"{host}:{self.http.server_address[1]}"
        self._thread = threading.Thread(target=self.http.serve_forever, name="rawvision-health", daemon=True)

    def start(self) -> HealthServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.http.shutdown()
        self.http.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def pid_of(process_pid: Callable[[], int | None] | int | None) -> Callable[[], int | None]:
    """A pid provider from a fixed pid or a callable (for :class:`HealthServer`)."""
    if callable(process_pid):
        return process_pid
    return lambda: process_pid if process_pid is None or os.path.exists(f"/proc/{process_pid}") else None


def probe(http_url: str, check: str) -> int:
    """Check once, print the verdict, and return the exit code a probe wants (0 ok, 1 not)."""
    port = int(http_url.rsplit(":", 1)[1])
    verdict = (readiness if check == "ready" else liveness)(http_url, find_server(port))
    print(("ok" if verdict.ok else f"not {check}") + "".join(f"\n  {problem}" for problem in verdict.problems))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    # The Kubernetes exec probe in NVIDIA's container (standard library only):
    # python3 -m rawvision.server.health ready|live [host:port]
    import sys

    arguments = sys.argv[1:] + ["ready", "127.0.0.1:8000"][len(sys.argv) - 1:]
    sys.exit(probe(arguments[1], arguments[0]))
