"""Thin detection client: send encoded images to a rawvision detection ensemble, get boxes back.

Depends on ``tritonclient[http]`` and ``numpy`` only, so it can be copied alone to any machine:
``python detect_client.py --url localhost:8000 --model faces --score-threshold 0.6 photo.jpg``.
Each image's answer is trimmed to its ``COUNT`` rows (the rest of the batch's padding is dropped), and
boxes are x1, y1, x2, y2 in the original image's pixels. A server that is overloaded or rate-limiting
(HTTP 429, 502, 503, 504) is asked again after a random, growing pause.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

INPUT = "IMAGE"
OUTPUTS = ("BOXES", "SCORES", "CLASS_IDS", "LABELS", "COUNT")
LANDMARKS = "LANDMARKS"
# The server or the front door is overloaded, rate-limiting, or between replicas: worth asking again.
RETRY_STATUSES = frozenset({"429", "502", "503", "504"})

T = TypeVar("T")


class DetectError(RuntimeError):
    """The server or model is not what this client expects, or refused a request."""


@dataclass(frozen=True)
class Options:
    """Per-request options sent as KServe v2 request parameters; ``None`` keeps the pipeline's default."""

    score_threshold: float | None = None
    iou_threshold: float | None = None
    max_detections: int | None = None

    def parameters(self) -> dict[str, float | int]:
        """The request's ``parameters`` object: only the options that are set."""
        values = {"score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold,
                  "max_detections": self.max_detections}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class Detection:
    """One object found: its box (x1, y1, x2, y2 in the original image's pixels), label and score."""

    label: str
    score: float
    class_id: int
    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...] = ()

    def __str__(self) -> str:
        x1, y1, x2, y2 = self.box
        return f"{self.label}  {self.score:.3f}  ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f})"

    def record(self) -> dict[str, Any]:
        """The detection as a JSON object (landmarks only when the model gives them)."""
        record: dict[str, Any] = {"label": self.label, "score": round(self.score, 6), "class_id": self.class_id,
                                  "box": [round(v, 2) for v in self.box]}
        if self.landmarks:
            record["landmarks"] = [[round(x, 2), round(y, 2)] for x, y in self.landmarks]
        return record


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def trim(outputs: Mapping[str, np.ndarray | None]) -> list[list[Detection]]:
    """Each image's real rows of a padded answer: ``COUNT`` [n,1] says how many of the K rows are real."""
    missing = [name for name in OUTPUTS if outputs.get(name) is None]
    if missing:
        raise DetectError(f"response lacks {missing}")
    boxes, scores, ids, labels, count = (np.asarray(outputs[name]) for name in OUTPUTS)
    landmarks = outputs.get(LANDMARKS)
    counts = count.reshape(len(boxes), -1)[:, 0]
    capacity = boxes.shape[1] if boxes.ndim == 3 else 0
    if boxes.ndim != 3 or boxes.shape[2] != 4 or (counts < 0).any() or (counts > capacity).any():
        raise DetectError(f"COUNT {counts.tolist()} does not fit BOXES of shape {list(boxes.shape)}")
    answers = []
    for image, n in enumerate(counts.tolist()):
        answers.append([
            Detection(_text(labels[image, row]), float(scores[image, row]), int(ids[image, row]),
                      (float(boxes[image, row, 0]), float(boxes[image, row, 1]),
                       float(boxes[image, row, 2]), float(boxes[image, row, 3])),
                      tuple((float(x), float(y)) for x, y in landmarks[image, row]) if landmarks is not None else ())
            for row in range(n)])
    return answers


def image_input(images: Sequence[bytes]) -> httpclient.InferInput:
    """The ``IMAGE`` tensor: BYTES [n, 1], one encoded file per batch element, sent as binary data."""
    payload = np.array([[bytes(image)] for image in images], dtype=np.object_)
    tensor = httpclient.InferInput(INPUT, list(payload.shape), "BYTES")
    tensor.set_data_from_numpy(payload, binary_data=True)
    return tensor


_RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?) s")


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is an overloaded, rate-limiting or unreachable server rather than a refused image."""
    if isinstance(exc, InferenceServerException):
        return str(exc.status()) in RETRY_STATUSES
    return isinstance(exc, ConnectionError)


def backoff(attempt: int, message: str = "", rand: Callable[[], float] = random.random, base: float = 0.25,
            cap: float = 5.0) -> float:
    """Seconds to wait before retry ``attempt`` (0, 1, ...): full jitter, uniform below ``base·2^attempt``.

    When the front says how long to wait ("retry after N s" in its body, as in its ``Retry-After``
    header), the wait is at least that, spread over 1-1.5× so that refused clients do not return together.
    """
    delay = rand() * min(cap, base * 2.0 ** attempt)
    hinted = _RETRY_AFTER.search(message)
    return max(delay, float(hinted[1]) * (1.0 + 0.5 * rand())) if hinted else delay


def with_backoff(call: Callable[[], T], retry_seconds: float, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, clock: Callable[[], float] = time.monotonic) -> T:
    """``call()``, asked again after :func:`backoff` pauses while it fails retryably, for ``retry_seconds``."""
    give_up = clock() + retry_seconds
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_retryable(exc):
                raise
            pause = backoff(attempt, str(exc), rand)
            if clock() + pause > give_up:
                raise
            sleep(pause)
            attempt += 1


class Client:
    """Detect objects in encoded images (JPEG/PNG bytes) with one detection ensemble of a Triton server."""

    def __init__(self, url: str = "localhost:8000", model: str = "faces", timeout: float = 60.0,
                 retry_seconds: float = 60.0) -> None:
        self.model = model
        self.retry_seconds = retry_seconds
        self._client = httpclient.InferenceServerClient(url=url, connection_timeout=timeout,
                                                        network_timeout=timeout)
        self.max_batch_size, self.landmarks = self._check_model()

    def _check_model(self) -> tuple[int, bool]:
        """Check the model takes IMAGE bytes and gives boxes; its max batch and whether it has landmarks."""
        try:
            metadata = self._client.get_model_metadata(self.model)
            config = self._client.get_model_config(self.model)
        except InferenceServerException as exc:
            raise DetectError(f"model {self.model!r} is not available: {exc.message()}") from None
        inputs = {i["name"]: i["datatype"] for i in metadata["inputs"]}
        outputs = {o["name"] for o in metadata["outputs"]}
        if inputs.get(INPUT) != "BYTES" or not set(OUTPUTS) <= outputs:
            raise DetectError(f"model {self.model!r} is not a detection pipeline (takes {INPUT} as BYTES, gives "
                              f"{', '.join(OUTPUTS)}): inputs {inputs}, outputs {sorted(outputs)}")
        return max(int(config.get("max_batch_size", 0)), 1), LANDMARKS in outputs

    def detect(self, images: Sequence[bytes], options: Options = Options()) -> list[list[Detection]]:
        """Send ``images`` as one request (one batch element each); each image's detections, best first."""
        if not images:
            return []
        if len(images) > self.max_batch_size:
            raise DetectError(f"{len(images)} images exceed the model's max_batch_size {self.max_batch_size}")
        names = OUTPUTS + ((LANDMARKS,) if self.landmarks else ())
        requested = [httpclient.InferRequestedOutput(name, binary_data=True) for name in names]
        inputs = [image_input(images)]
        try:
            result = with_backoff(lambda: self._client.infer(self.model, inputs, outputs=requested,
                                                             parameters=options.parameters() or None),
                                  self.retry_seconds)
        except InferenceServerException as exc:
            raise DetectError(exc.message()) from None
        return trim({name: result.as_numpy(name) for name in names})

    def detect_files(self, paths: Sequence[Path], options: Options = Options()) -> list[list[Detection]]:
        """Read files as bytes and detect, as many per request as the model allows."""
        answers: list[list[Detection]] = []
        for start in range(0, len(paths), self.max_batch_size):
            chunk = paths[start:start + self.max_batch_size]
            answers += self.detect([Path(p).read_bytes() for p in chunk], options)
        return answers

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def format_lines(paths: Sequence[Path | str], answers: Sequence[Sequence[Detection]]) -> str:
    """One line per detection: ``file  label  score  (x1, y1, x2, y2)``; a file with none says so."""
    lines = []
    for path, detections in zip(paths, answers, strict=True):
        lines += [f"{path}  {detection}" for detection in detections] or [f"{path}  no detections"]
    return "\n".join(lines)


def format_json(paths: Sequence[Path | str], answers: Sequence[Sequence[Detection]]) -> str:
    """One JSON object per file and line: ``{"file", "count", "detections": [{label, score, box, ...}]}``."""
    return "\n".join(json.dumps({"file": str(path), "count": len(detections),
                                 "detections": [d.record() for d in detections]}, ensure_ascii=False)
                     for path, detections in zip(paths, answers, strict=True))


def add_options(parser: argparse.ArgumentParser) -> None:
    """The per-request options; this file's command line and ``rawvision detect`` share them."""
    parser.add_argument("--score-threshold", type=float, help="keep boxes scoring at least this (0–1; default: "
                        "the pipeline's)")
    parser.add_argument("--iou-threshold", type=float, help="NMS overlap above which the weaker box goes (0–1)")
    parser.add_argument("--max-detections", type=int, help="at most this many boxes per image (1–1000)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of text lines")


def options_from(args: argparse.Namespace) -> Options:
    """The :class:`Options` of parsed :func:`add_options` arguments."""
    return Options(args.score_threshold, args.iou_threshold, args.max_detections)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: detect objects in image files with a running server."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path, help="JPEG or PNG files")
    parser.add_argument("--url", default="localhost:8000", help="Triton HTTP endpoint (host:port)")
    parser.add_argument("--model", default="faces", help="detection ensemble name")
    add_options(parser)
    args = parser.parse_args(argv)
    try:
        client = Client(args.url, args.model)
        try:
            answers = client.detect_files(args.images, options_from(args))
        finally:
            client.close()
    except (DetectError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_json(args.images, answers) if args.json else format_lines(args.images, answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
