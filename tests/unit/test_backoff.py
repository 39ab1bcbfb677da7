"""The clients' backoff: jittered, bounded, and at least what the front's "retry after N s" asks."""

from __future__ import annotations

import random

import pytest

from rawvision.client import classify_client, folder_client, ocr_client

CLIENTS = [classify_client.backoff_delay, folder_client.backoff_delay, ocr_client.backoff_delay]


@pytest.mark.parametrize("backoff", CLIENTS)
def test_delays_are_jittered_and_capped(backoff) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(0)
    delays = [backoff(attempt, "", rng=rng) for attempt in range(12) for _ in range(20)]
    assert all(0.0 <= d <= 5.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 200  # no two clients wait alike


@pytest.mark.parametrize("backoff", CLIENTS)
def test_the_fronts_retry_after_is_honoured(backoff) -> None:  # type: ignore[no-untyped-def]
    message = "overloaded: every server is busy or away; retry after 2 s"
    delays = [backoff(0, message, rng=random.Random(seed)) for seed in range(50)]
    assert all(2.0 <= d <= 3.0 for d in delays), (min(delays), max(delays))
