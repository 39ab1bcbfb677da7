"""Find and remove what a dead ``tritonserver`` leaves: orphaned Python stubs and ``/dev/shm`` regions.

Each server gets a unique shared-memory prefix (``--backend-config=python,shm-region-prefix-name=...``).
Every region it creates is named ``<prefix><uuid>`` and every stub it starts carries that region name as
its second argument (``triton_python_backend_stub <model.py> <prefix><uuid> <shm sizes> <server pid> ...``),
so the prefix finds a server's debris and nothing else's. After ``kill -9`` of the server, stubs busy in
``execute`` keep running (adopted by init, ignoring SIGTERM) and every region stays in RAM-backed
``/dev/shm``; :func:`remove_debris` ends the first and unlinks the second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

LOGGER = logging.getLogger(__name__)

SHM_DIR = Path("/dev/shm")
STUB_NAME = "triton_python_backend_stub"
PREFIX_ROOT = "rawvision-"
# Who owns the servers started from this process tree (default: this process); a test session sets it so
# that it can check, at its end, that none of its servers left anything behind.
OWNER_ENV = "RAWVISION_SHM_OWNER"


@dataclass(frozen=True)
class Debris:
    """What :func:`remove_debris` found and removed."""

    stubs: int
    regions: int
    region_bytes: int

    def __bool__(self) -> bool:
        return bool(self.stubs or self.regions)


def owner_tag() -> str:
    """The owner part of new prefixes: ``$RAWVISION_SHM_OWNER`` or this process's pid."""
    owner = os.environ.get(OWNER_ENV) or str(os.getpid())
    if not owner.isalnum():
        raise ValueError(f"{OWNER_ENV}={owner!r}: expected letters and digits only")
    return owner


def owner_prefix(owner: str | None = None) -> str:
    """The prefix every server of ``owner`` (default: :func:`owner_tag`) shares."""
    return f"{PREFIX_ROOT}{owner or owner_tag()}-"


def new_prefix() -> str:
    """A fresh, unique prefix for one server: ``rawvision-<owner>-<random>-``.

    It ends in a separator, so that no server's prefix is the beginning of another's.
    """
    return f"{owner_prefix()}{secrets.token_hex(4)}-"


def stub_processes(prefix: str) -> list[psutil.Process]:
    """Live (non-zombie) Python stubs whose shared-memory region starts with ``prefix``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = process.info.get("cmdline") or []
        if len(command) > 2 and Path(command[0]).name == STUB_NAME and command[2].startswith(prefix):
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
            except psutil.NoSuchProcess:
                continue
    return found


def server_processes(prefix: str) -> list[psutil.Process]:
    """Live ``tritonserver`` processes started with ``prefix``."""
    marker = f"shm-region-prefix-name={prefix}"
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = process.info.get("cmdline") or []
        if command and Path(command[0]).name == "tritonserver" and any(marker in arg for arg in command):
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
            except psutil.NoSuchProcess:
                continue
    return found


def regions(prefix: str) -> list[Path]:
    """Shared-memory regions in ``/dev/shm`` whose names start with ``prefix``."""
    if not prefix.startswith(PREFIX_ROOT):
        raise ValueError(f"refusing prefix {prefix!r}: rawvision's prefixes start with {PREFIX_ROOT!r}")
    return sorted(SHM_DIR.glob(f"{prefix}*")) if SHM_DIR.is_dir() else []


def end_processes(processes: list[psutil.Process], grace: float = 0.0, timeout: float = 5.0) -> int:
    """SIGTERM and ``grace`` seconds (if ``grace``), then SIGKILL; return how many there were.

    Returns once each one is gone or a zombie (dead, holding nothing; init reaps it), or after ``timeout``.
    """
    alive = processes
    if grace > 0:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _gone, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    deadline = time.monotonic() + timeout
    while any(_running(process) for process in alive) and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(processes)


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def remove_debris(prefix: str) -> Debris:
    """Kill the stubs and unlink the regions of the (dead) server with ``prefix``; only those.

    Call it after the server process has exited: a live server would recreate what is removed, and a
    dead one's stubs have nothing left to finish (busy ones ignore SIGTERM anyway), so they get SIGKILL.
    """
    stubs = end_processes(stub_processes(prefix))
    count, size = 0, 0
    for path in regions(prefix):
        try:
            size += path.stat().st_size
            path.unlink()
            count += 1
        except FileNotFoundError:
            continue
    debris = Debris(stubs, count, size)
    if debris:
        LOGGER.info("removed what the server with prefix %s left: %d stubs, %d regions (%.1f MiB)",
                    prefix, debris.stubs, debris.regions, debris.region_bytes / 2**20)
    return debris


def sweep_dead_owners() -> Debris:
    """Remove the debris of servers whose owner process is gone (a ``serve`` that was itself killed with -9).

    Only prefixes whose owner is a process id (the default owner) that no longer runs, and whose server no
    longer runs: ``pdeathsig`` took the server with its owner, but its busy stubs and its regions stayed.
    Owners named by ``$RAWVISION_SHM_OWNER`` (test sessions) are left to whoever named them.
    """
    if not SHM_DIR.is_dir():
        return Debris(0, 0, 0)
    prefixes = set()
    for path in SHM_DIR.glob(f"{PREFIX_ROOT}*-*-*"):
        owner, server = path.name[len(PREFIX_ROOT):].split("-")[:2]
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            prefixes.add(f"{PREFIX_ROOT}{owner}-{server}-")
    found = [remove_debris(prefix) for prefix in sorted(prefixes) if not server_processes(prefix)]
    return Debris(sum(d.stubs for d in found), sum(d.regions for d in found), sum(d.region_bytes for d in found))
