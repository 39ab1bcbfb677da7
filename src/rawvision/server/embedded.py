"""Start and stop the real ``tritonserver`` (2.51) that the ``nvidia-pytriton`` wheel ships, CPU only.

The wheel carries the server binary, the Python backend and one backend stub per Python version; this
module lays out a backend directory with the stub that matches the running interpreter, points the
server at the repository with ``--model-config-name=embedded``, and waits for readiness.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from rawvision.repository import EMBEDDED_CONFIG_NAME
from rawvision.server.control import admin_headers, restricted_api_args
from rawvision.server.watchdog import StubWatchdog

LOGGER = logging.getLogger(__name__)

ControlMode = Literal["none", "poll", "explicit"]


class ServerError(RuntimeError):
    """The server could not be started or did not become ready."""


@dataclass(frozen=True)
class ServerOptions:
    """Options of the embedded server, named as Triton names them."""

    repository: Path = Path("model_repository")
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    model_control_mode: ControlMode = "explicit"
    # Explicit mode: the models to load at start; empty means every model in the repository.
    load_models: tuple[str, ...] = ()
    model_config_name: str = EMBEDDED_CONFIG_NAME
    host: str = "127.0.0.1"
    watchdog: bool = True
    # When set, the model-repository API (load/unload/index) requires this key (see triton.control).
    admin_key: str | None = None
    extra_args: tuple[str, ...] = field(default=())

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP endpoint, as tritonclient takes it."""
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint."""
        return f"{self.host}:{self.grpc_port}"


def _pytriton_root() -> Path:
    try:
        import pytriton
    except ImportError as exc:
        raise ServerError("the embedded server needs the nvidia-pytriton wheel: "
                          "pip install 'rawvision[server]'") from exc
    return Path(pytriton.__file__).parent


def prepare_backends(workdir: Path) -> Path:
    """Lay out ``workdir/backends/python`` with the wheel's Python backend and this Python's stub."""
    dist = _pytriton_root() / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServerError(f"no Python backend stub for Python {version} in {dist}")
    python = workdir / "backends" / "python"
    python.mkdir(parents=True, exist_ok=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        (python / name).symlink_to(dist / "backends" / "python" / name)
    (python / "triton_python_backend_stub").symlink_to(stub)
    return workdir / "backends"


def stub_prefix(workdir: Path, python_path: str) -> Path:
    """A venv-shaped folder for the stubs: this Python, ``python_path`` first on ``sys.path``, then this venv.

    The stub's embedded interpreter starts isolated (pybind11), so it ignores ``PYTHONPATH``; a
    ``pyvenv.cfg`` beside a ``bin/python3`` link makes it take this folder as its prefix, and a ``.pth``
    file there puts ``python_path`` (a worktree's ``src``) before this venv's own site-packages.
    """
    root = workdir / "stub-python"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "bin" / "python3").symlink_to(sys.executable)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (root / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).resolve().parent}\n"
                                     "include-system-site-packages = false\n"
                                     f"version = {sys.version.split()[0]}\n", encoding="utf-8")
    site_packages = root / "lib" / f"python{version}" / "site-packages"
    site_packages.mkdir(parents=True, exist_ok=True)
    own = sysconfig.get_paths()["purelib"]
    lines = [str(Path(p).resolve()) for p in python_path.split(os.pathsep) if p]
    lines.append(f"import site; site.addsitedir({own!r})")
    (site_packages / "00-pythonpath.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "bin"


def server_environment(workdir: Path | None = None) -> dict[str, str]:
    """The environment the server and its stubs need: the wheel's libraries and this venv's Python first.

    With ``PYTHONPATH`` set and a ``workdir``, the stubs' Python honours it (see :func:`stub_prefix`).
    """
    env = os.environ.copy()
    libs = [str(_pytriton_root().parent / "nvidia_pytriton.libs")]
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        libs.insert(0, str(libdir))
    env["LD_LIBRARY_PATH"] = ":".join([*libs, env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    # The stub embeds Python and finds its prefix (this venv) through the first python3 on PATH.
    python_bin = Path(sys.executable).parent
    if workdir is not None and env.get("PYTHONPATH"):
        python_bin = stub_prefix(workdir, env["PYTHONPATH"])
    env["PATH"] = f"{python_bin}:{env.get('PATH', '')}"
    return env


def server_command(options: ServerOptions, backends: Path) -> list[str]:
    """The ``tritonserver`` command line for ``options``."""
    binary = _pytriton_root() / "tritonserver" / "bin" / "tritonserver"
    command = [
        str(binary),
        f"--model-repository={Path(options.repository).resolve()}",
        f"--backend-directory={backends}",
        f"--model-config-name={options.model_config_name}",
        f"--model-control-mode={options.model_control_mode}",
        f"--http-address={options.host}",
        f"--http-port={options.http_port}",
        f"--grpc-address={options.host}",
        f"--grpc-port={options.grpc_port}",
        f"--metrics-port={options.metrics_port}",
        "--allow-metrics=true",
        "--allow-gpu-metrics=false",
        "--strict-readiness=true",
        "--exit-on-error=true",
        # A unique shared-memory prefix lets several servers run side by side.
        f"--backend-config=python,shm-region-prefix-name=rawvision{os.getpid()}{secrets.token_hex(3)}",
    ]
    if options.model_control_mode == "explicit":
        command += [f"--load-model={name}" for name in startup_models(options)]
    if options.admin_key:
        command += list(restricted_api_args(options.admin_key))
    return command + list(options.extra_args)


def startup_models(options: ServerOptions) -> tuple[str, ...]:
    """The models an explicit-mode server loads at start: the given ones, else every model.

    Every model, not only the ensembles: an ensemble brings its composing models, but a Python step may
    call another model through BLS (``ocr_lines`` → ``ocr_recognize``), which no config declares.
    """
    return options.load_models or ("*",)


class EmbeddedServer:
    """A running ``tritonserver`` process; use as a context manager or call start/stop."""

    def __init__(self, options: ServerOptions, log: IO[bytes] | None = None) -> None:
        self.options = options
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self.watchdog: StubWatchdog | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The server process (after :meth:`start`)."""
        if self._process is None:
            raise ServerError("the server is not running")
        return self._process

    def start(self, timeout: float = 180.0) -> EmbeddedServer:
        """Start the server and block until ``/v2/health/ready`` answers 200."""
        if not Path(self.options.repository).is_dir():
            raise ServerError(f"model repository {self.options.repository} does not exist")
        self._workdir = Path(tempfile.mkdtemp(prefix="rawvision-triton-"))
        command = server_command(self.options, prepare_backends(self._workdir))
        LOGGER.info("starting %s", " ".join(command))
        self._process = subprocess.Popen(command, env=server_environment(self._workdir), stdout=self._log,
                                         stderr=subprocess.STDOUT if self._log else None)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        if self.options.watchdog and self.options.model_control_mode == "explicit":
            self.watchdog = StubWatchdog(self._process.pid, self.options.http_url,
                                         headers=admin_headers(self.options.admin_key)).start()
        elif self.options.watchdog:
            LOGGER.info("no stub watchdog: reloading a model needs explicit model-control mode")
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll the readiness endpoint until it answers 200, the process exits, or ``timeout`` passes."""
        wait_until_ok(f"http://{self.options.http_url}/v2/health/ready", self.process, timeout, "tritonserver")

    def stop(self, timeout: float = 30.0) -> int | None:
        """Terminate, wait, then kill if needed; return the exit code."""
        code = None
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    LOGGER.warning("tritonserver did not stop within %.0f s; killing it", timeout)
                    self._process.kill()
                    self._process.wait()
            code = self._process.returncode
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        return code

    def __enter__(self) -> EmbeddedServer:
        return self.start() if self._process is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def wait_until_ok(url: str, process: subprocess.Popen[bytes], timeout: float, name: str) -> None:
    """Poll ``url`` until it answers 200; :class:`ServerError` if ``process`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise ServerError(f"{name} exited with code {code} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise ServerError(f"{name} was not ready within {timeout:.0f} s")


def free_ports(count: int) -> Sequence[int]:
    """``count`` TCP ports free on loopback right now (for tests and side-by-side servers)."""
    import socket

    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()
