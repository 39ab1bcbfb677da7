"""Thin OCR client: one call with a photo's bytes, lines of text with boxes and confidences back.

Depends on ``tritonclient[http,grpc]`` and ``numpy`` only, so it can be copied alone:
``python ocr_client.py --url localhost:8000 receipt.jpg`` (``--grpc`` with ``--url localhost:8001``).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

OUTPUTS = ("TEXTS", "BOXES", "SCORES")
TRIES = 5

# Refusals worth another try after a wait: the server or the front is busy, away, or rate-limiting.
RETRY_STATUSES = frozenset({"429", "502", "503", "504", "StatusCode.UNAVAILABLE"})
_RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?) s")


def backoff_delay(attempt: int, message: str = "", base: float = 0.25, cap: float = 5.0,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before try ``attempt + 1``: full jitter up to ``base`` × 2^attempt (at most ``cap``).

    The front says how long to wait ("retry after N s" in its body, as in its ``Retry-After`` header);
    then the wait is at least that, spread over 1-1.5× so that refused clients do not return together.
    """
    rng = rng or random.Random()
    delay = rng.uniform(0.0, min(cap, base * 2 ** attempt))
    hinted = _RETRY_AFTER.search(message)
    return max(delay, float(hinted[1]) * rng.uniform(1.0, 1.5)) if hinted else delay


class OcrError(RuntimeError):
    """The server refused the request or answered with something this client does not understand."""


@dataclass(frozen=True)
class Line:
    """One line of text: its corner points (x, y) in the photo's pixels and the recogniser's confidence."""

    text: str
    box: tuple[tuple[float, float], ...]
    score: float

    def __str__(self) -> str:
        corners = " ".join(f"({x:.0f},{y:.0f})" for x, y in self.box)
        return f"{self.score:.3f}  {corners}  {self.text}"


def read_text(image: bytes, url: str = "localhost:8000", model: str = "ocr", grpc: bool = False,
              timeout: float = 120.0) -> list[Line]:
    """Send the encoded ``image`` to ``model`` in one call; its lines in reading order."""
    module: Any = grpcclient if grpc else httpclient
    client = (grpcclient.InferenceServerClient(url) if grpc else
              httpclient.InferenceServerClient(url, connection_timeout=timeout, network_timeout=timeout))
    payload = np.array([bytes(image)], dtype=np.object_)
    tensor = module.InferInput("IMAGE", list(payload.shape), "BYTES")
    tensor.set_data_from_numpy(payload)
    outputs = [module.InferRequestedOutput(name) for name in OUTPUTS]
    options = {"client_timeout": timeout} if grpc else {}
    try:
        for attempt in range(TRIES):
            try:
                result = client.infer(model, [tensor], outputs=outputs, **options)
                break
            except InferenceServerException as exc:
                if str(exc.status()) not in RETRY_STATUSES or attempt == TRIES - 1:
                    raise OcrError(exc.message()) from None
                time.sleep(backoff_delay(attempt, str(exc.message())))
    finally:
        client.close()
    texts, boxes, scores = (result.as_numpy(name) for name in OUTPUTS)
    if texts is None or boxes is None or scores is None:
        raise OcrError(f"response lacks one of {OUTPUTS}")
    return [Line(text.decode() if isinstance(text, bytes) else str(text),
                 tuple((float(x), float(y)) for x, y in box), float(score))
            for text, box, score in zip(texts.reshape(-1), boxes.reshape(-1, 4, 2), scores.reshape(-1), strict=True)]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the lines of each image file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--url", default="localhost:8000")
    parser.add_argument("--model", default="ocr")
    parser.add_argument("--grpc", action="store_true", help="use gRPC (give the gRPC port in --url)")
    args = parser.parse_args(argv)
    for path in args.images:
        try:
            lines = read_text(path.read_bytes(), args.url, args.model, args.grpc)
        except (OcrError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 1
        print(f"{path}: {len(lines)} line(s)")
        for line in lines:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
