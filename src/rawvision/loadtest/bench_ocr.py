"""Latency of one ``ocr`` ensemble call versus a two-call client (client-side steps, two model calls).

A client without server-side steps decodes and preprocesses the photo itself, calls the detector, cuts the crops
itself, calls the recogniser and decodes the text itself. Here that client uses the very same
``rawvision.ocr`` functions as the server steps, so the two ways differ only in where the work runs
and in what crosses the wire (photo bytes versus float tensors both ways).

Run from the repository root: ``.venv/bin/python -m rawvision.loadtest.bench_ocr --images 12 --rounds 3``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

from rawvision.client import ocr_client
from rawvision.imaging import encode
from rawvision.ocr.crop import RecognizeSpec
from rawvision.ocr.ctc import load_characters
from rawvision.ocr.detect import DetectSpec
from rawvision.ocr.pipeline import crops_for, keep_confident, prepare, recognize_crops
from rawvision.ocr.synthetic import corpus
from rawvision.repository import config_parameters, model_config
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports


class TwoCallClient:
    """A client that runs every step but the two networks on the client, two calls per photo."""

    def __init__(self, url: str, repository: Path) -> None:
        self.client = httpclient.InferenceServerClient(url, network_timeout=300)
        self.detect = DetectSpec.from_parameters(config_parameters(model_config(repository, "ocr_preprocess")))
        lines = config_parameters(model_config(repository, "ocr_lines"))
        self.recognize = RecognizeSpec()
        self.min_score = float(lines["min_score"])
        self.batch_size = int(lines["recognition_batch_size"])  # as ocr_lines batches: same padding widths
        self.characters = load_characters(repository / "ocr_lines" / lines["dictionary_filename"])
        self.sent_bytes = 0

    def close(self) -> None:
        """Close the connection (an open keep-alive connection delays the server's shutdown)."""
        self.client.close()

    def _infer(self, model: str, name: str, output: str, array: np.ndarray) -> np.ndarray:
        tensor = httpclient.InferInput(name, list(array.shape), "FP32")
        tensor.set_data_from_numpy(array)
        self.sent_bytes += array.nbytes
        result = self.client.infer(model, [tensor], outputs=[httpclient.InferRequestedOutput(output)])
        return np.asarray(result.as_numpy(output))

    def read_text(self, data: bytes) -> list[str]:
        """Preprocess, call the detector, crop, call the recogniser, decode: all here but the networks."""
        detector_input, rgb = prepare(data, self.detect)
        probability_map = self._infer("ocr_detect", "detection_input", "probability_map", detector_input)
        boxes, crops = crops_for(rgb, probability_map, self.detect, self.recognize)
        if not crops:
            return []
        texts, scores = recognize_crops(crops, self.recognize, self.batch_size,
                                        lambda batch: self._infer("ocr_recognize", "recognition_input",
                                                                  "character_probs", batch), self.characters)
        return keep_confident(boxes, texts, scores, self.min_score).texts


def timed(call: Callable[[], list[str]]) -> tuple[float, list[str]]:
    """Seconds one call took, and what it returned."""
    start = time.perf_counter()
    texts = call()
    return time.perf_counter() - start, texts


def run(url: str, repository: Path, images: int, rounds: int) -> None:
    """Alternate the two ways over the same photos; print medians, means and their ratio."""
    photos = [encode(p.pixels, "JPEG", quality=90) for p in corpus(images, seed=500)]
    two_call = TwoCallClient(url, repository)
    ensemble: list[float] = []
    two_calls: list[float] = []
    mismatches = 0
    for photo in photos[:2]:  # warm-up: sessions, arenas, connections
        ocr_client.read_text(photo, url)
        two_call.read_text(photo)
    two_call.sent_bytes = 0
    for _ in range(rounds):
        for photo in photos:
            seconds, ours = timed(lambda p=photo: [line.text for line in ocr_client.read_text(p, url)])  # type: ignore[misc]
            ensemble.append(seconds)
            seconds, theirs = timed(lambda p=photo: two_call.read_text(p))  # type: ignore[misc]
            two_calls.append(seconds)
            if ours != theirs:
                mismatches += 1
                if mismatches <= 3:
                    print(f"texts differ: ensemble {ours}, seed way {theirs}")
    photo_bytes = sum(len(p) for p in photos) * rounds
    print(f"OCR latency, {len(photos)} photos (640x640 JPEG, 2-4 lines) x {rounds} rounds, one at a time; "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}")
    for name, values in (("ensemble, 1 call", ensemble), ("two-call client, 2 calls", two_calls)):
        print(f"  {name:18s} median {statistics.median(values) * 1000:7.1f} ms  "
              f"mean {statistics.mean(values) * 1000:7.1f} ms")
    ratio = statistics.median(two_calls) / statistics.median(ensemble)
    print(f"  two-call client / ensemble (medians): {ratio:.2f}")
    print(f"  sent per photo: ensemble {photo_bytes / len(ensemble) / 1024:.0f} KiB (the JPEG), seed way "
          f"{two_call.sent_bytes / len(two_calls) / 1024:.0f} KiB (float tensors)")
    print(f"  photos whose texts differ between the two ways: {mismatches} of {len(ensemble)}")
    two_call.close()


def main() -> None:
    """Start an embedded server (or use ``--url``), run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--url", help="a running server's HTTP host:port (default: start one)")
    args = parser.parse_args()
    if args.url:
        run(args.url, args.repository, args.images, args.rounds)
        return
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=args.repository, http_port=http, grpc_port=grpc, metrics_port=metrics)
    with EmbeddedServer(options):
        run(options.http_url, args.repository, args.images, args.rounds)


if __name__ == "__main__":
    main()
