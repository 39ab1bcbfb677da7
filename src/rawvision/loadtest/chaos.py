"""Chaos for tests and the soak: kill an embedded server whole (kill -9 of it and its own stubs), then tidy after it.

A node or OOM kill takes the server and its stubs at once; this does the same to a server we started, and
then removes what the dead server leaves behind: its work folder and its own shared-memory regions (the
``shm-region-prefix-name`` on its command line), nothing else's.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from rawvision.server.embedded import EmbeddedServer


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (for a server: its Python-backend stubs)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.is_file() else []


def shm_prefix(pid: int) -> str | None:
    """The server's own shared-memory region prefix, from its command line."""
    for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
        text = arg.decode(errors="replace")
        if "shm-region-prefix-name=" in text:
            return text.split("shm-region-prefix-name=", 1)[1]
    return None


def kill_whole(server: EmbeddedServer) -> None:
    """SIGKILL the server and its stubs, reap it, and remove its work folder and its shared-memory regions."""
    pid = server.process.pid
    prefix, stubs = shm_prefix(pid), children(pid)
    os.kill(pid, signal.SIGKILL)
    for stub in stubs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stub, signal.SIGKILL)
    server.process.wait()
    server.stop()
    if prefix:
        for region in Path("/dev/shm").glob(f"{prefix}*"):
            region.unlink(missing_ok=True)
