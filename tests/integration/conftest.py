"""One real embedded Triton server per test session, on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports


@pytest.fixture(scope="session")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics)
    log_path = tmp_path_factory.mktemp("triton") / "server.log"
    with log_path.open("wb") as log:
        embedded = EmbeddedServer(options, log=log)
        try:
            embedded.start(timeout=300)
        except Exception:
            print(log_path.read_text(errors="replace")[-5000:])
            raise
        yield options
        code = embedded.stop()
    assert code == 0, log_path.read_text(errors="replace")[-5000:]


ADMIN_KEY = "test-admin-key"


@contextmanager
def empty_locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server locked by ``ADMIN_KEY``, in explicit mode, on an empty repository (for ``add --url``)."""
    repository = tmp_path_factory.mktemp("repo") / "model_repository"
    repository.mkdir()
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            admin_key=ADMIN_KEY)
    log_path = tmp_path_factory.mktemp("log") / "server.log"
    print(f"server log: {log_path}")
    with log_path.open("wb") as log, EmbeddedServer(options, log) as running:
        yield running
        assert running.process.poll() is None, log_path.read_text(errors="replace")[-3000:]
