"""Soak: mixed good and bad traffic against every ensemble for a set time, counting every answer.

Reports requests, answers, errors by kind, and the resident memory of the server and its stub processes
at the start and the end, so a leak shows as growth.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import psutil
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ERROR_KINDS = {
    "empty": r"empty payload",
    "not an image": r"not a decodable image",
    "truncated": r"truncated",
    "too many pixels": r"pixels, more than the limit",
    "aspect ratio": r"aspect ratio",
    "format": r"format \w+ is not accepted",
    "too many bytes": r"exceeds the limit",
}


def error_kind(message: str) -> str:
    """A short name for an error message (``other`` when none of :data:`ERROR_KINDS` matches)."""
    return next((kind for kind, pattern in ERROR_KINDS.items() if re.search(pattern, message)), "other")


def server_rss(pid: int) -> int:
    """Resident bytes of a process and all its children (the server and its Python-backend stubs)."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return int(total)


@dataclass(frozen=True)
class Traffic:
    """What to send to one ensemble: payloads that must answer and payloads that must be refused."""

    ensemble: str
    good: Sequence[bytes]
    bad: Sequence[bytes]
    batched: bool = True


@dataclass
class SoakReport:
    """Counts of one soak run and the server's memory at its start and end."""

    seconds: float = 0.0
    requests: int = 0
    answered: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    rss_start: int = 0
    rss_end: int = 0

    def record(self, ensemble: str, bad: bool, error: str | None) -> None:
        """Count one answer: a good payload must be answered, a bad one refused with HTTP 400."""
        self.requests += 1
        if error is None and not bad:
            self.answered += 1
        elif error is not None and bad and error.startswith("400 "):
            self.refused[error_kind(error)] += 1
        else:
            self.unexpected.append(f"{ensemble}: {'bad' if bad else 'good'} payload got {error}")

    def summary(self) -> str:
        """Human-readable lines for the docs and the console."""
        mib = 1024 * 1024
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.refused.items()))
        return (f"{self.requests} requests in {self.seconds:.0f} s ({self.requests / max(self.seconds, 1e-9):.1f}/s): "
                f"{self.answered} answered, {sum(self.refused.values())} refused as expected ({kinds}), "
                f"{len(self.unexpected)} unexpected\n"
                f"server + stubs resident memory: {self.rss_start / mib:.0f} MiB at start, "
                f"{self.rss_end / mib:.0f} MiB at end ({(self.rss_end - self.rss_start) / mib:+.0f} MiB)")


def _send(client: httpclient.InferenceServerClient, traffic: Traffic, payload: bytes) -> str | None:
    array = np.array([[payload]] if traffic.batched else [payload], dtype=np.object_)
    tensor = httpclient.InferInput("IMAGE", list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    try:
        client.infer(traffic.ensemble, [tensor])
        return None
    except InferenceServerException as exc:
        return f"{exc.status()} {exc.message()}"


def run_soak(url: str, server_pid: int, traffic: Sequence[Traffic], seconds: float,
             threads: int = 4, bad_share: float = 0.3, seed: int = 0, rate: float | None = None) -> SoakReport:
    """Send a random mix of good and bad payloads from ``threads`` threads for ``seconds``.

    With ``rate``, the threads together send about ``rate`` requests a second (each its share, paced);
    without, each sends again as soon as it has its answer.
    """
    report = SoakReport(rss_start=server_rss(server_pid))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    interval = threads / rate if rate else 0.0

    def worker(index: int) -> None:
        rng = np.random.default_rng(seed + index)
        client = httpclient.InferenceServerClient(url, network_timeout=120)
        due = time.monotonic() + interval * index / threads
        while time.monotonic() < deadline:
            if interval:
                time.sleep(max(due - time.monotonic(), 0.0))
                due += interval
            target = traffic[int(rng.integers(len(traffic)))]
            bad = bool(rng.random() < bad_share)
            pool = target.bad if bad else target.good
            error = _send(client, target, pool[int(rng.integers(len(pool)))])
            with lock:
                report.record(target.ensemble, bad, error)
        client.close()

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    report.seconds = time.monotonic() - started
    report.rss_end = server_rss(server_pid)
    return report


def warm_up(url: str, server_pid: int, traffic: Sequence[Traffic], threads: int = 4, rounds: int = 2) -> SoakReport:
    """Send every payload of every ensemble ``rounds`` times from ``threads`` threads, concurrently.

    Measured on this repository (2026-11-23): server + stub memory rose by 783 MiB in the first minute of
    soak traffic (``ocr_detect`` +396 MiB meeting new input shapes, ``tritonserver`` +197 MiB, the
    ``imagenet`` steps +90 MiB), then stayed within ±20 MiB over five more minutes; a 10-minute soak ended
    +781 MiB above its start. A warm-up by time cannot promise that every input was seen (one OCR request
    takes about a second); this one does, so the growth a soak measures after it is growth under inputs
    already seen (a leak), not first use.
    """
    report = SoakReport(rss_start=server_rss(server_pid))
    jobs = [(target, bad, payload) for _ in range(rounds) for target in traffic
            for bad, pool in ((False, target.good), (True, target.bad)) for payload in pool]
    lock = threading.Lock()

    def worker(share: Sequence[tuple[Traffic, bool, bytes]]) -> None:
        client = httpclient.InferenceServerClient(url, network_timeout=120)
        for target, bad, payload in share:
            error = _send(client, target, payload)
            with lock:
                report.record(target.ensemble, bad, error)
        client.close()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(worker, [jobs[i::threads] for i in range(threads)]))
    report.seconds = time.monotonic() - started
    report.rss_end = server_rss(server_pid)
    return report
