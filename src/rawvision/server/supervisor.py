"""``rawvision serve``: run tritonserver, restart it when it dies, stop it cleanly at any moment.

The supervisor starts the embedded server (:class:`EmbeddedServer`) from the main thread and watches it.
When it exits without being asked (an abort, the OOM killer, ``kill -9``), the supervisor logs the cause
and the last lines of its log, removes its debris (stubs, ``/dev/shm`` regions), waits a backoff and
starts it again on the same ports with the same repository and, in explicit mode, the models and versions
that were READY at the last look (the repository index, read every ``index_interval`` seconds). Triton
runs each model's ``model_warmup`` before it answers ready, so a restarted server is warm when ready.
After ``max_crashes`` crashes within ``window`` seconds it gives up (:class:`GaveUp`).

SIGTERM and SIGINT are caught before the first server starts; the handler only sets a flag, which every
wait polls, so a stop during start-up, warm-up, serving, a backoff or a stop ends the server and removes
its debris. A server that is not ready yet is killed at once (it has nothing to drain); a ready one gets
SIGTERM and ``stop_timeout`` seconds to finish its requests, or is killed at a second signal.

With a :class:`~rawvision.server.gate.Gate`, the public HTTP port is an nginx admission gate in front of
Triton's HTTP port (``options.http_port``, on loopback): started after the signal handlers, before the first
server, kept for the whole run (a restart of tritonserver does not touch it: meanwhile it refuses with 503
and ``Retry-After``), started again if it dies, stopped last.

Its own metrics (restarts, crashes by cause, up) are served in Prometheus text format on
``metrics_port`` (``/metrics``), beside Triton's.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import IO

from rawvision.server import debris
from rawvision.server.control import ControlError, ModelControl
from rawvision.server.embedded import EmbeddedServer, ServerError, ServerOptions, StartInterrupted
from rawvision.server.gate import Gate
from rawvision.server.health import HealthServer
from rawvision.server.nginx import Nginx

LOGGER = logging.getLogger(__name__)
TAIL_LINES = 20


class GaveUp(RuntimeError):
    """The server crashed too often (or could not start at all); the supervisor stopped trying."""


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart: exponential backoff, and giving up after ``max_crashes`` within ``window`` seconds."""

    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    max_crashes: int = 5
    window: float = 300.0

    def __post_init__(self) -> None:
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise ValueError(f"backoff {self.initial_backoff}..{self.max_backoff} s: expected 0 <= initial <= max")
        if self.max_crashes < 1 or self.window <= 0:
            raise ValueError(f"{self.max_crashes} crashes in {self.window} s: expected at least 1 in a positive window")

    def recent(self, crashes: list[float], now: float) -> int:
        """How many of ``crashes`` (monotonic times) fall within the window ending ``now``."""
        return sum(now - when <= self.window for when in crashes)

    def backoff(self, recent: int) -> float:
        """Seconds to wait before the next start after the ``recent``-th crash in the window (1, 2, ...)."""
        return float(min(self.max_backoff, self.initial_backoff * 2 ** max(0, recent - 1)))


def exit_cause(code: int | None) -> str:
    """A process's exit status in words: ``"killed by SIGKILL"``, ``"exit code 1"``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def cause_label(code: int | None) -> str:
    """The ``cause`` label of the crash counter: the signal name or ``exit_<code>``."""
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal_{-code}"
    return f"exit_{code}"


@dataclass
class SupervisorStats:
    """What the metrics endpoint reports."""

    restarts: int = 0
    gate_restarts: int = 0
    up: bool = False
    last_start_seconds: float = 0.0
    crashes: collections.Counter[str] = field(default_factory=collections.Counter)
    loaded: dict[str, list[str]] = field(default_factory=dict)  # explicit mode: what a restart loads again

    def prometheus(self) -> str:
        """The counters in Prometheus text exposition format."""
        lines = ["# HELP rawvision_server_restarts_total tritonserver restarts after an unexpected exit.",
                 "# TYPE rawvision_server_restarts_total counter",
                 f"rawvision_server_restarts_total {self.restarts}",
                 "# HELP rawvision_gate_restarts_total Admission gate (nginx) restarts after it exited.",
                 "# TYPE rawvision_gate_restarts_total counter",
                 f"rawvision_gate_restarts_total {self.gate_restarts}",
                 "# HELP rawvision_server_crashes_total Unexpected tritonserver exits, by signal or exit code.",
                 "# TYPE rawvision_server_crashes_total counter"]
        lines += [f'rawvision_server_crashes_total{{cause="{cause}"}} {count}'
                  for cause, count in sorted(self.crashes.items())]
        lines += ["# HELP rawvision_server_up 1 while tritonserver is ready (and warm), 0 while it (re)starts.",
                  "# TYPE rawvision_server_up gauge", f"rawvision_server_up {int(self.up)}",
                  "# HELP rawvision_server_start_seconds Seconds from the last (re)start to ready.",
                  "# TYPE rawvision_server_start_seconds gauge",
                  f"rawvision_server_start_seconds {self.last_start_seconds:.3f}",
                  "# HELP rawvision_server_model_ready READY at the supervisor's last look: what a restart loads.",
                  "# TYPE rawvision_server_model_ready gauge"]
        lines += [f'rawvision_server_model_ready{{model="{name}",version="{version}"}} 1'
                  for name, versions in sorted(self.loaded.items()) for version in versions]
        return "\n".join(lines) + "\n"


class LogTail:
    """Copy a server's output from a pipe to ``sink``, keeping its last lines for the crash report."""

    def __init__(self, sink: IO[bytes], lines: int = TAIL_LINES) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "wb")
        self._reader = os.fdopen(read_fd, "rb")
        self._sink = sink
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._thread = threading.Thread(target=self._copy, name="rawvision-server-log", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        for line in self._reader:
            self.lines.append(line.decode(errors="replace").rstrip())
            try:
                self._sink.write(line)
                self._sink.flush()
            except (OSError, ValueError):
                pass
        self._reader.close()

    def close(self) -> list[str]:
        """Close the write end (after the server and its stubs are gone) and return the last lines."""
        self.writer.close()
        self._thread.join(timeout=5.0)
        return list(self.lines)


@contextmanager
def _metrics_endpoint(host: str, port: int | None, stats: SupervisorStats) -> Iterator[None]:
    """Serve ``stats`` at ``http://host:port/metrics`` while the block runs (nothing when ``port`` is None)."""
    if port is None:
        yield
        return

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = stats.prometheus().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    try:
        httpd = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:  # the server matters more than its restart counter
        LOGGER.warning("no supervisor metrics: cannot listen on %s:%d: %s", host, port, exc)
        yield
        return
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="rawvision-supervisor-metrics", daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class Supervisor:
    """Run the embedded server until stopped, restarting it after unexpected exits (see the module notes)."""

    def __init__(self, options: ServerOptions, policy: RestartPolicy | None = None, *, sink: IO[bytes],
                 start_timeout: float = 300.0, stop_timeout: float = 30.0, metrics_port: int | None = None,
                 index_interval: float = 2.0, gate: Gate | None = None) -> None:
        self.options = options
        self.policy = policy or RestartPolicy()
        self.sink = sink
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.metrics_port = metrics_port
        self.index_interval = index_interval
        self.gate = gate
        self.nginx: Nginx | None = None
        self._server: EmbeddedServer | None = None
        self.stats = SupervisorStats()
        self._signals = 0
        self._crashes: list[float] = []

    @property
    def stopping(self) -> bool:
        """Whether SIGTERM/SIGINT (or :meth:`request_stop`) asked for a stop."""
        return self._signals > 0

    def request_stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        """Ask for a stop (the signal handler); a second call hurries it (the server is killed)."""
        self._signals += 1
        LOGGER.warning("%s: stopping%s", signal.Signals(signum).name, " now" if self._signals > 1 else "")

    def run(self, on_ready: Callable[[EmbeddedServer, float, int], None] | None = None) -> None:
        """Serve until stopped; ``on_ready(server, seconds to ready, restart number)`` after each start.

        Raises:
            GaveUp: after too many crashes, or when the first start fails without a crash.

        """
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            swept = debris.sweep_dead_owners()
            if swept:
                LOGGER.warning("removed what servers of dead supervisors left: %d stubs, %d shared-memory regions "
                               "(%.1f MiB)", swept.stubs, swept.regions, swept.region_bytes / 2**20)
            with _metrics_endpoint(self.options.host, self.metrics_port, self.stats), self._gated():
                self._loop(on_ready)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def _gated(self) -> Iterator[None]:
        """Run the block behind the gate (when there is one), and stop the gate after it."""
        if self.gate is None:
            yield
            return
        health = HealthServer(0, self.options.http_url, self._server_pid, self.options.host,
                              self.options.admin_key).start()
        try:
            self.nginx = self.gate.start(self.options.http_url, health.url)
            yield
        finally:
            if self.nginx is not None:
                self.nginx.stop()
                self.nginx = None
            health.stop()

    def _server_pid(self) -> int | None:
        """The running tritonserver's pid (what the health service checks), None between servers."""
        try:
            process = self._server.process if self._server is not None else None
        except ServerError:  # not launched yet
            return None
        return process.pid if process is not None and process.poll() is None else None

    def _mind_gate(self) -> None:
        """Start the gate again if it died (nothing else may answer on the public port)."""
        if self.gate is None or self.nginx is None or self.nginx.process is None or self.nginx.process.poll() is None:
            return
        LOGGER.warning("the admission gate (nginx) exited with %s; starting it again:\n%s",
                       exit_cause(self.nginx.process.returncode), _indent(self.nginx.error_log().splitlines()[-5:]))
        self.stats.gate_restarts += 1  # counted before it listens again, so whoever sees it back sees the count
        health = self.nginx.health_upstreams[0]
        self.nginx.stop()
        self.nginx = self.gate.start(self.options.http_url, health)

    def _loop(self, on_ready: Callable[[EmbeddedServer, float, int], None] | None) -> None:
        ever_ready = False
        while not self.stopping:
            started = time.monotonic()
            tail = LogTail(self.sink)
            server = EmbeddedServer(self._options(), log=tail.writer)
            self._server = server
            serving = False  # a server that is not ready yet has no requests to drain: a stop kills it at once
            try:
                server.start(self.start_timeout, should_stop=lambda: self.stopping)
                serving = True
                self._restore_versions(server)
                self.stats.up, self.stats.last_start_seconds = True, time.monotonic() - started
                ever_ready = True
                if on_ready is not None:
                    on_ready(server, self.stats.last_start_seconds, self.stats.restarts)
                self._watch(server)
            except StartInterrupted:
                pass
            except ServerError as exc:
                if not ever_ready and (server.returncode is None or server.returncode >= 0):
                    tail.close()
                    raise GaveUp(f"tritonserver could not start: {exc}\n"
                                 f"last lines of its log:\n{_indent(tail.lines)}") from exc
                LOGGER.warning("tritonserver did not become ready: %s", exc)
            except Exception as exc:  # restoring versions or the ready report failed: a crash if the server died
                if server.process.poll() is None:
                    raise
                LOGGER.warning("tritonserver died while it was being made ready: %s", exc)
            finally:
                self.stats.up = False
                server.stop(self.stop_timeout, should_hurry=self._hurry(serving))
                lines = tail.close()
            if self.stopping:
                return
            self._after_crash(server, lines)

    def _hurry(self, serving: bool) -> Callable[[], bool]:
        """Whether a stop should kill at once: a second signal, or a server not ready yet (nothing to drain)."""
        return lambda: self._signals > 1 or not serving

    def _options(self) -> ServerOptions:
        """The options of the next start: the same, with the models READY at the last look (explicit mode)."""
        if self.options.model_control_mode != "explicit" or not self.stats.loaded:
            return self.options
        return replace(self.options, load_models=tuple(sorted(self.stats.loaded)))

    def _watch(self, server: EmbeddedServer) -> None:
        """Return when the server exits or a stop is asked for; record its READY models meanwhile."""
        next_look = 0.0
        while not self.stopping and server.process.poll() is None:
            self._mind_gate()
            if self.options.model_control_mode == "explicit" and time.monotonic() >= next_look:
                self._record_loaded()
                next_look = time.monotonic() + self.index_interval
            time.sleep(0.1)

    def _record_loaded(self) -> None:
        try:
            with ModelControl(self.options.http_url, self.options.admin_key, timeout=2.0) as control:
                rows = control.models()
        except Exception as exc:  # a failed look is retried at the next; it must not end the supervisor
            LOGGER.debug("could not read the repository index: %s", exc)
            return
        loaded: dict[str, list[str]] = {}
        for row in rows:
            if row.state == "READY":
                loaded.setdefault(row.name, []).append(row.version)
        self.stats.loaded = {name: sorted(versions, key=int) for name, versions in loaded.items()}

    def _restore_versions(self, server: EmbeddedServer) -> None:
        """Load again the versions that were READY before a crash where they differ from the repository's policy."""
        if not self.stats.loaded or self.options.model_control_mode != "explicit":
            return
        with ModelControl(self.options.http_url, self.options.admin_key) as control:
            for name, versions in sorted(self.stats.loaded.items()):
                if self.stopping:
                    return
                if control.ready_versions(name) != versions:
                    LOGGER.warning("restoring %s versions %s", name, ", ".join(versions))
                    try:
                        control.load(name, versions=[int(v) for v in versions])
                    except ControlError as exc:
                        LOGGER.error("could not restore %s versions %s: %s", name, versions, exc)

    def _after_crash(self, server: EmbeddedServer, lines: list[str]) -> None:
        """Count the crash, log it, give up or wait the backoff (interruptibly)."""
        now = time.monotonic()
        self._crashes.append(now)
        self.stats.crashes[cause_label(server.returncode)] += 1
        recent = self.policy.recent(self._crashes, now)
        report = (f"tritonserver {exit_cause(server.returncode)} ({recent} crashes in the last "
                  f"{self.policy.window:.0f} s; removed {server.debris.stubs} stubs and {server.debris.regions} "
                  f"shared-memory regions, {server.debris.region_bytes / 2**20:.1f} MiB)")
        if recent >= self.policy.max_crashes:
            raise GaveUp(f"giving up: {report}\nlast lines of its log:\n{_indent(lines)}")
        delay = self.policy.backoff(recent)
        LOGGER.warning("%s; restarting in %.1f s; last lines of its log:\n%s", report, delay, _indent(lines))
        deadline = time.monotonic() + delay
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.stopping:
            self.stats.restarts += 1


def _indent(lines: Iterable[str]) -> str:
    return "\n".join(f"    {line}" for line in lines) or "    (no output)"
