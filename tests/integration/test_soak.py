"""A 60-second soak in CI: every request gets the expected answer, and memory stays bounded after warm-up."""

from __future__ import annotations

import pytest

from rawvision.loadtest.bench_soak import traffic_for
from rawvision.loadtest.soak import run_soak, warm_up
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports

pytestmark = pytest.mark.integration
MEMORY_GROWTH_BOUND = 128 * 1024 * 1024  # bytes, server + stubs, over the run after a warm-up


def test_sixty_second_soak_answers_everything_and_keeps_memory_bounded(repository, tmp_path) -> None:  # type: ignore[no-untyped-def]
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics)
    traffic = traffic_for(repository)
    with (tmp_path / "server.log").open("wb") as log, EmbeddedServer(options, log) as server:
        # Warm-up: every payload of every ensemble twice, then a minute of the soak's own random mix (the
        # dynamic batches it forms); measured, memory is flat after that (see rawvision.loadtest.soak.warm_up).
        warm = warm_up(options.http_url, server.process.pid, traffic)
        settle = run_soak(options.http_url, server.process.pid, traffic, seconds=60)
        report = run_soak(options.http_url, server.process.pid, traffic, seconds=60)
    print(f"\nwarm-up: {warm.summary()}\nsettle: {settle.summary()}\nsoak: {report.summary()}")
    assert warm.unexpected == [] and settle.unexpected == [] and report.unexpected == []
    assert report.answered > 0 and sum(report.refused.values()) > 0
    assert "other" not in report.refused
    assert report.rss_end - report.rss_start <= MEMORY_GROWTH_BOUND, report.summary()
