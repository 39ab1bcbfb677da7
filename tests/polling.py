"""Wait for a condition in integration tests without sleeping as synchronisation."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], limit: float = 120.0, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds; the limit only keeps a broken run from hanging."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
