"""Thin rawvision client: send encoded images to a Triton ensemble, get top-k labels back.

Depends on ``tritonclient[http]`` and ``numpy`` only, so it can be copied alone to any machine:
``python classify_client.py --url localhost:8000 --model mnist digit.png``. ``--plot out.png`` also
needs matplotlib, imported only then.
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

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

INPUT = "IMAGE"
OUTPUTS = ("LABELS", "SCORES", "CLASS_IDS")
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


class ClientError(RuntimeError):
    """The server or model is not what this client expects, or refused a request."""


@dataclass(frozen=True)
class Prediction:
    """One class of a top-k answer."""

    label: str
    score: float
    class_id: int

    def __str__(self) -> str:
        return f"{self.score:f} ({self.class_id}) = {self.label}"


class Client:
    """Classify encoded images (JPEG/PNG bytes) with one ensemble of a Triton server."""

    def __init__(self, url: str = "localhost:8000", model: str = "mnist", timeout: float = 60.0,
                 tries: int = TRIES) -> None:
        self.model = model
        self.tries = tries
        self._client = httpclient.InferenceServerClient(url=url, connection_timeout=timeout,
                                                        network_timeout=timeout)
        self.max_batch_size = self._check_model()

    def _check_model(self) -> int:
        """Check the model's metadata and config against the raw-bytes contract; return its max batch."""
        try:
            metadata = self._client.get_model_metadata(self.model)
            config = self._client.get_model_config(self.model)
        except InferenceServerException as exc:
            raise ClientError(f"model {self.model!r} is not available: {exc.message()}") from None
        inputs = {i["name"]: i["datatype"] for i in metadata["inputs"]}
        outputs = {o["name"] for o in metadata["outputs"]}
        if inputs.get(INPUT) != "BYTES" or not set(OUTPUTS) <= outputs:
            raise ClientError(f"model {self.model!r} does not take {INPUT} (BYTES) and give {OUTPUTS}: "
                              f"inputs {inputs}, outputs {sorted(outputs)}")
        return max(int(config.get("max_batch_size", 0)), 1)

    def classify(self, images: Sequence[bytes]) -> list[list[Prediction]]:
        """Send ``images`` as one request (one batch element each); return top-k per image."""
        if not images:
            return []
        if len(images) > self.max_batch_size:
            raise ClientError(f"{len(images)} images exceed the model's max_batch_size {self.max_batch_size}")
        payload = np.array([[bytes(image)] for image in images], dtype=np.object_)
        tensor = httpclient.InferInput(INPUT, list(payload.shape), "BYTES")
        tensor.set_data_from_numpy(payload)
        requested = [httpclient.InferRequestedOutput(name) for name in OUTPUTS]
        for attempt in range(self.tries):
            try:
                result = self._client.infer(self.model, [tensor], outputs=requested)
                break
            except InferenceServerException as exc:
                if str(exc.status()) not in RETRY_STATUSES or attempt == self.tries - 1:
                    raise ClientError(exc.message()) from None
                time.sleep(backoff_delay(attempt, str(exc.message())))
        labels, scores, ids = (result.as_numpy(name) for name in OUTPUTS)
        if labels is None or scores is None or ids is None:
            raise ClientError(f"response lacks one of {OUTPUTS}")
        return [
            [Prediction(label.decode() if isinstance(label, bytes) else str(label), float(score), int(cid))
             for label, score, cid in zip(row_labels, row_scores, row_ids, strict=True)]
            for row_labels, row_scores, row_ids in zip(labels, scores, ids, strict=True)
        ]

    def classify_files(self, paths: Sequence[Path]) -> list[list[Prediction]]:
        """Read files as bytes and classify them, as many per request as the model allows."""
        answers: list[list[Prediction]] = []
        for start in range(0, len(paths), self.max_batch_size):
            chunk = paths[start:start + self.max_batch_size]
            answers += self.classify([Path(p).read_bytes() for p in chunk])
        return answers

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def format_answers(paths: Sequence[Path], answers: Sequence[Sequence[Prediction]]) -> str:
    """One block per file: its name, then ``score (class_id) = LABEL`` lines, best first."""
    blocks = []
    for path, predictions in zip(paths, answers, strict=True):
        lines = [str(path)] + [f"  {p}" for p in predictions]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def plot_answers(paths: Sequence[Path], answers: Sequence[Sequence[Prediction]], out: Path) -> None:
    """Bar charts of the top-k probabilities (in percent), one panel per file, written to ``out``."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(paths), 1, figsize=(9, 3.2 * len(paths)), squeeze=False)
    for axis, path, predictions in zip(axes[:, 0], paths, answers, strict=True):
        names = [f"{p.label} ({p.class_id})" for p in predictions]
        bars = axis.bar(names, [100 * p.score for p in predictions], width=0.45)
        axis.bar_label(bars, fmt="%.2f")
        axis.set_title(str(path))
        axis.set_ylabel("probability (%)")
        axis.set_ylim(0, 110)
        axis.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: classify image files with a running server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path, help="JPEG or PNG files")
    parser.add_argument("--url", default="localhost:8000", help="Triton HTTP endpoint (host:port)")
    parser.add_argument("--model", default="mnist", help="ensemble name")
    parser.add_argument("--plot", type=Path, help="also write a bar chart of the top probabilities (PNG; "
                        "needs matplotlib)")
    args = parser.parse_args(argv)
    try:
        client = Client(args.url, args.model)
        try:
            answers = client.classify_files(args.images)
        finally:
            client.close()
        print(format_answers(args.images, answers))
        if args.plot:
            plot_answers(args.images, answers, args.plot)
            print(f"wrote {args.plot}")
    except (ClientError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
