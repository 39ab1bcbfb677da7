"""Chaos for tests and the soak: kill an embedded server whole (kill -9 of it and its own stubs at once).

A node or OOM kill takes the server and its stubs together; this does the same to a server we started.
What the dead server leaves behind (its stubs' shared-memory regions, its work folder) is removed by
:meth:`EmbeddedServer.stop` through :mod:`rawvision.server.debris`, by the server's own shm prefix.
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


def kill_whole(server: EmbeddedServer) -> None:
    """SIGKILL the server and its stubs, reap it, and let ``stop`` remove its debris."""
    pid = server.process.pid
    stubs = children(pid)
    os.kill(pid, signal.SIGKILL)
    for stub in stubs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stub, signal.SIGKILL)
    server.process.wait()
    server.stop()
