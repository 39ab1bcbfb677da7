"""Open-loop load: send requests at a fixed rate whatever the answers, and record each answer's status and latency.

perf_analyzer's ``--request-rate-range`` stops at the first error ("Thread [n] had error: ... Exceeds
maximum queue size", exit code 99, verified with 2.51's client), so it cannot measure an overload in
which rejections are the expected answer; this small asyncio generator can.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import tritonclient.http.aio as aioclient
from tritonclient.utils import InferenceServerException

NO_ANSWER = "no answer"


@dataclass(frozen=True)
class Answer:
    """One request: when it was sent (seconds from the start), its status (``ok`` or Triton's) and latency."""

    sent: float
    status: str
    message: str
    latency: float


@dataclass(frozen=True)
class OpenLoopReport:
    """All answers of one run, with the rate asked for and the rate really sent."""

    rate: float
    seconds: float
    answers: tuple[Answer, ...]

    def latencies(self, ok: bool) -> np.ndarray:
        """Latencies (seconds) of the accepted (``ok``) or the rejected answers."""
        return np.array([a.latency for a in self.answers if (a.status == "ok") == ok])

    def statuses(self) -> Counter[str]:
        """How many answers had each status."""
        return Counter(a.status for a in self.answers)


async def _one(client: aioclient.InferenceServerClient, model: str, payload: bytes, batched: bool,
               start: float) -> Answer:
    shape = [1, 1] if batched else [1]
    tensor = aioclient.InferInput("IMAGE", shape, "BYTES")
    tensor.set_data_from_numpy(np.array([payload], dtype=np.object_).reshape(shape))
    sent = time.monotonic()
    try:
        await client.infer(model, [tensor])
        status, message = "ok", ""
    except InferenceServerException as exc:
        status, message = str(exc.status()), str(exc.message())
    except Exception as exc:  # a timeout or a dropped connection: the request got no answer
        status, message = NO_ANSWER, repr(exc)
    return Answer(sent - start, status, message, time.monotonic() - sent)


async def _run(url: str, model: str, payload: bytes, rate: float, seconds: float, batched: bool,
               timeout: float) -> OpenLoopReport:
    client = aioclient.InferenceServerClient(url, conn_limit=1024, conn_timeout=timeout)
    start = time.monotonic()
    tasks = []
    try:
        for index in range(int(rate * seconds)):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(client, model, payload, batched, start)))
        answers = await asyncio.gather(*tasks)
    finally:
        await client.close()
    return OpenLoopReport(rate, seconds, tuple(answers))


def open_loop(url: str, model: str, payload: bytes, rate: float, seconds: float,
              batched: bool = True, timeout: float = 120.0) -> OpenLoopReport:
    """Send ``payload`` to ``model`` (input ``IMAGE``) ``rate`` times a second for ``seconds``, open loop.

    A request with no answer within ``timeout`` seconds (or a dropped connection) has status ``no answer``.
    """
    if rate <= 0 or seconds <= 0:
        raise ValueError(f"rate {rate} and seconds {seconds} must be positive")
    return asyncio.run(_run(url, model, payload, rate, seconds, batched, timeout))
