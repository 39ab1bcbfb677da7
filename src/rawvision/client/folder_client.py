"""Classify whole folders of images with a rawvision ensemble: async batched requests, resumable output.

Depends on ``tritonclient[http]`` (or ``[grpc]`` with ``--grpc``) and ``numpy`` only, so it can be copied
alone to any machine:
``python folder_client.py photos/ --url host:8000 --model imagenet --out results.jsonl --concurrency 8``.
Each file gets exactly one line in the output (top-k labels, or its error), written as answers come;
with a detection pipeline (one whose outputs include ``COUNT`` and ``BOXES``) the line holds the image's
detections instead, trimmed to its ``COUNT`` (JSON Lines only);
``--resume`` skips the files already there. Connection errors (a server restart, an overloaded server,
the front door's rate limit) are retried with backoff; a request that fails because of one bad image
is sent again one image at a time, so the good images in it still get their answers.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import random
import re
import ssl
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from tritonclient.utils import InferenceServerException

INPUT = "IMAGE"
OUTPUTS = ("LABELS", "SCORES", "CLASS_IDS")
DETECTION_OUTPUTS = ("BOXES", "SCORES", "CLASS_IDS", "LABELS", "COUNT")
LANDMARKS = "LANDMARKS"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
CSV_FIELDS = ("file", "labels", "scores", "class_ids", "error", "cause")

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


class FolderError(RuntimeError):
    """The run cannot go on (server unreachable for too long, output in the way, wrong model)."""


@dataclass(frozen=True)
class Options:
    """Where and how to send the images."""

    url: str = "localhost:8000"
    model: str = "mnist"
    grpc: bool = False
    ssl: bool = False
    ca_cert: Path | None = None
    api_key: str | None = None
    concurrency: int = 4
    batch: int = 0  # 0: the model's max_batch_size
    retry_seconds: float = 300.0


@dataclass(frozen=True)
class Outcome:
    """One file's line in the output: its top-k answer, its detections (a detection pipeline), or its error."""

    file: str
    labels: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    class_ids: tuple[int, ...] = ()
    error: str = ""
    cause: str = ""
    detections: tuple[dict[str, Any], ...] | None = None

    def record(self) -> dict[str, Any]:
        """The JSON object of this outcome."""
        if self.error:
            return {"file": self.file, "error": self.error, "cause": self.cause}
        if self.detections is not None:
            return {"file": self.file, "count": len(self.detections), "detections": list(self.detections)}
        return {"file": self.file, "labels": list(self.labels), "scores": list(self.scores),
                "class_ids": list(self.class_ids)}


@dataclass
class Summary:
    """What a run did."""

    found: int = 0
    skipped: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        """Files answered (labels or error) per second of this run."""
        done = self.answered + sum(self.errors.values())
        return done / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The summary as printed at the end."""
        lines = [f"{self.found} files: {self.answered} classified, {sum(self.errors.values())} errors, "
                 f"{self.skipped} skipped (already in the output)",
                 f"{self.images_per_second:.1f} images/s over {self.seconds:.1f} s; {self.requests} requests, "
                 f"{self.retries} retried (server away, overloaded or rate-limiting)"]
        lines += [f"  {count} × {cause}" for cause, count in self.errors.most_common()]
        return lines


def find_images(inputs: Iterable[Path]) -> list[Path]:
    """Files given by name, and image files (by suffix) found under the folders given, in sorted order."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            found.append(item)
    return found


_PREFIX = re.compile(r"^in ensemble '[^']*', \w+\[\d+\]: ")


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def detection_outcomes(outputs: dict[str, Any]) -> list[Outcome]:
    """Each image's real rows of a detection answer (``COUNT`` [n,1] of the K padded rows) as an outcome."""
    boxes, scores, ids, labels, count = (np.asarray(outputs[name]) for name in DETECTION_OUTPUTS)
    landmarks = outputs.get(LANDMARKS)
    counts = count.reshape(len(boxes), -1)[:, 0].tolist()
    if boxes.ndim != 3 or any(not 0 <= n <= boxes.shape[1] for n in counts):
        raise FolderError(f"COUNT {counts} does not fit BOXES of shape {list(boxes.shape)}")
    outcomes = []
    for image, n in enumerate(counts):
        rows = []
        for row in range(n):
            record: dict[str, Any] = {"label": _text(labels[image, row]), "score": round(float(scores[image, row]), 6),
                                      "class_id": int(ids[image, row]),
                                      "box": [round(float(v), 2) for v in boxes[image, row]]}
            if landmarks is not None:
                record["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in landmarks[image, row]]
            rows.append(record)
        outcomes.append(Outcome("", tuple(r["label"] for r in rows), tuple(r["score"] for r in rows),
                                tuple(r["class_id"] for r in rows), detections=tuple(rows)))
    return outcomes


def error_cause(message: str) -> str:
    """A short, countable cause: the message without the ensemble, index, sizes or quoted bytes."""
    cause = _PREFIX.sub("", message.strip()).split(" (")[0].split(" starting ")[0]
    return re.sub(r"\d+", "N", cause)[:100]


class ResultFile:
    """The output file, JSON Lines (``.jsonl``) or CSV (``.csv``); one line per file, appended."""

    def __init__(self, path: Path, resume: bool, overwrite: bool = False) -> None:
        if path.suffix not in (".jsonl", ".csv"):
            raise FolderError(f"--out must end with .jsonl or .csv, got {path}")
        self.path = path
        self.csv = path.suffix == ".csv"
        exists = path.is_file() and path.stat().st_size > 0
        if exists and not (resume or overwrite):
            raise FolderError(f"{path} exists: add --resume to continue it or --overwrite to start again")
        self.done: set[str] = self._read_done() if exists and resume else set()
        self._handle: TextIO = path.open("a" if resume else "w", encoding="utf-8", newline="")
        self._csv_writer = csv.DictWriter(self._handle, CSV_FIELDS) if self.csv else None
        if self._csv_writer is not None and not self.done and self._handle.tell() == 0:
            self._csv_writer.writeheader()

    def _read_done(self) -> set[str]:
        data = self.path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]  # a line cut by a crash is dropped and redone
        if len(complete) != len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(len(complete))
        text = complete.decode("utf-8")
        if self.csv:
            return {row["file"] for row in csv.DictReader(io.StringIO(text))}
        return {json.loads(line)["file"] for line in text.splitlines() if line.strip()}

    def write(self, outcomes: Iterable[Outcome]) -> None:
        """Append outcomes and flush, so a crash loses no answered file."""
        for outcome in outcomes:
            if self._csv_writer is not None:
                self._csv_writer.writerow({"file": outcome.file, "labels": "|".join(outcome.labels),
                                           "scores": "|".join(f"{s:.6g}" for s in outcome.scores),
                                           "class_ids": "|".join(map(str, outcome.class_ids)),
                                           "error": outcome.error, "cause": outcome.cause})
            else:
                self._handle.write(json.dumps(outcome.record(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


class Progress:
    """A progress bar on stderr with images per second: redrawn on a terminal, a line per 10% otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.done = self.errors = 0
        self._drawn = 0.0
        self._decile = 0

    def add(self, done: int, errors: int) -> None:
        """Count ``done`` more files, ``errors`` of them failed."""
        if not done:
            return
        self.done += done
        self.errors += errors
        now = time.monotonic()
        decile = 10 * self.done // max(self.total, 1)
        if (self.tty and now - self._drawn >= 0.2) or (not self.tty and decile > self._decile) \
                or self.done == self.total:
            self._drawn, self._decile = now, decile
            self.draw(now)

    def draw(self, now: float) -> None:
        """Write the bar."""
        fraction = self.done / max(self.total, 1)
        rate = self.done / max(now - self.start, 1e-9)
        bar = "#" * int(30 * fraction) + "-" * (30 - int(30 * fraction))
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        line = (f"[{bar}] {self.done}/{self.total} {100 * fraction:3.0f}%  {rate:.1f} images/s  "
                f"{self.errors} errors  ETA {eta:.0f} s")
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        if self.tty and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


class Transport:
    """tritonclient's asyncio client (HTTP or gRPC) with the key, TLS and the raw-bytes contract."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.outputs: tuple[str, ...] = OUTPUTS  # the detection outputs once the model check finds COUNT, BOXES
        if options.grpc:
            import tritonclient.grpc.aio as grpcclient

            self.module: Any = grpcclient
            self.client: Any = grpcclient.InferenceServerClient(
                options.url, ssl=options.ssl, root_certificates=str(options.ca_cert) if options.ca_cert else None)
            self.headers = {"authorization": f"Bearer {options.api_key}"} if options.api_key else None
        else:
            import tritonclient.http.aio as httpclient

            context = ssl.create_default_context(cafile=str(options.ca_cert) if options.ca_cert else None)
            self.module = httpclient
            self.client = httpclient.InferenceServerClient(options.url, ssl=options.ssl,
                                                           ssl_context=context if options.ssl else None,
                                                           conn_limit=options.concurrency)
            self.headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else None

    async def max_batch_size(self) -> int:
        """The model's ``max_batch_size`` (1 when it does not batch); checks it takes IMAGE as BYTES."""
        if self.options.grpc:
            config = (await self.client.get_model_config(self.options.model, headers=self.headers,
                                                         as_json=True))["config"]
        else:
            config = await self.client.get_model_config(self.options.model, headers=self.headers)
        inputs = {tensor["name"]: tensor.get("data_type") for tensor in config.get("input", [])}
        if inputs.get(INPUT) != "TYPE_STRING":
            raise FolderError(f"model {self.options.model!r} does not take {INPUT} as bytes: inputs {inputs}")
        outputs = {tensor["name"] for tensor in config.get("output", [])}
        if {"COUNT", "BOXES"} <= outputs:
            self.outputs = DETECTION_OUTPUTS + ((LANDMARKS,) if LANDMARKS in outputs else ())
        return max(int(config.get("max_batch_size", 0)), 1)

    @property
    def detects(self) -> bool:
        """Whether the model is a detection pipeline (its answers are boxes, not top-k)."""
        return "COUNT" in self.outputs

    async def infer(self, images: Sequence[bytes]) -> list[Outcome]:
        """Send ``images`` as one request; per image its top-k or its detections (``file`` left empty)."""
        tensor = self.module.InferInput(INPUT, [len(images), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image] for image in images], dtype=np.object_))
        outputs = [self.module.InferRequestedOutput(name) for name in self.outputs]
        result = await self.client.infer(self.options.model, [tensor], outputs=outputs, headers=self.headers)
        if self.detects:
            return detection_outcomes({name: result.as_numpy(name) for name in self.outputs})
        labels, scores, ids = (result.as_numpy(name) for name in OUTPUTS)
        return [Outcome("", tuple(_text(lab) for lab in row_labels), tuple(float(s) for s in row_scores),
                        tuple(int(i) for i in row_ids))
                for row_labels, row_scores, row_ids in zip(labels, scores, ids, strict=True)]

    async def close(self) -> None:
        """Close the connections."""
        await self.client.close()


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` means the server was unreachable, restarting, overloaded or rate-limiting."""
    if isinstance(exc, InferenceServerException):
        status = str(exc.status())
        return status in RETRY_STATUSES or (status == "StatusCode.RESOURCE_EXHAUSTED"
                                            and "rate limit" in str(exc.message()))
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return True
    return type(exc).__module__.startswith("aiohttp")  # ServerDisconnectedError and its kin


class Runner:
    """Sends batches with ``concurrency`` requests in flight and writes every outcome once."""

    def __init__(self, transport: Transport, out: ResultFile, progress: Progress, summary: Summary,
                 retry_seconds: float) -> None:
        self.transport, self.out, self.progress, self.summary = transport, out, progress, summary
        self.retry_seconds = retry_seconds

    async def call(self, images: Sequence[bytes]) -> list[Outcome]:
        """One request, retried with backoff while the server is unreachable (up to ``retry_seconds``)."""
        give_up = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            self.summary.requests += 1
            try:
                return await self.transport.infer(images)
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                delay = backoff_delay(attempt, _message(exc))
                if time.monotonic() + delay > give_up:
                    raise FolderError(f"the server was unreachable for {self.retry_seconds:.0f} s ({exc!r}); "
                                      "run again with --resume to continue") from None
                self.summary.retries += 1
                attempt += 1
                await asyncio.sleep(delay)

    async def batch(self, paths: Sequence[Path]) -> None:
        """Classify ``paths`` in one request; if it fails, one request per file (a bad one among good)."""
        outcomes: dict[Path, Outcome] = {}
        images: list[bytes] = []
        readable: list[Path] = []
        for path in paths:
            try:
                images.append(path.read_bytes())
                readable.append(path)
            except OSError as exc:
                outcomes[path] = Outcome(str(path), error=f"cannot read: {exc.strerror}", cause="unreadable file")
        if readable:
            try:
                for path, answer in zip(readable, await self.call(images), strict=True):
                    outcomes[path] = replace(answer, file=str(path))
            except InferenceServerException as exc:
                if len(readable) > 1:  # one after the other: this worker's share of --concurrency
                    for path in readable:
                        await self.batch([path])
                else:
                    message = str(exc.message())
                    outcomes[readable[0]] = Outcome(str(readable[0]), error=message, cause=error_cause(message))
        done = [outcomes[path] for path in paths if path in outcomes]
        self.out.write(done)
        errors = [outcome.cause for outcome in done if outcome.error]
        self.summary.answered += len(done) - len(errors)
        self.summary.errors.update(errors)
        self.progress.add(len(done), len(errors))

    async def run(self, paths: Sequence[Path], batch_size: int, concurrency: int) -> None:
        """Every path, ``batch_size`` per request, ``concurrency`` requests at a time."""
        queue: asyncio.Queue[list[Path]] = asyncio.Queue()
        for start in range(0, len(paths), batch_size):
            queue.put_nowait(list(paths[start:start + batch_size]))

        async def worker() -> None:
            while not queue.empty():
                await self.batch(queue.get_nowait())

        workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()


async def classify_folder(inputs: Sequence[Path], out: Path, options: Options, resume: bool = False,
                          overwrite: bool = False, stream: TextIO = sys.stderr) -> Summary:
    """Classify every image under ``inputs``, writing one line per file to ``out``; return the summary."""
    if options.concurrency < 1 or options.batch < 0:
        raise FolderError(f"concurrency must be ≥ 1 and batch ≥ 0, got {options.concurrency}, {options.batch}")
    paths = find_images(inputs)
    results = ResultFile(out, resume, overwrite)
    summary = Summary(found=len(paths))
    todo = [path for path in paths if str(path) not in results.done]
    summary.skipped = len(paths) - len(todo)
    transport = Transport(options)
    started = time.monotonic()
    try:
        runner = Runner(transport, results, Progress(len(todo), stream), summary, options.retry_seconds)
        limit = await _with_retries(transport.max_batch_size, options.retry_seconds)
        if transport.detects and results.csv:
            if not results.done:
                out.unlink(missing_ok=True)  # only this run's header: leave no file in the way of the next
            raise FolderError(f"model {options.model!r} answers with boxes: write them to a .jsonl file "
                              "(CSV holds top-k answers only)")
        await runner.run(todo, min(options.batch or limit, limit), options.concurrency)
    finally:
        summary.seconds = time.monotonic() - started
        results.close()
        await transport.close()
    return summary


def _message(exc: BaseException) -> str:
    return str(exc.message()) if isinstance(exc, InferenceServerException) else str(exc)


async def _with_retries(call: Any, seconds: float) -> Any:
    give_up = time.monotonic() + seconds
    attempt = 0
    while True:
        try:
            return await call()
        except InferenceServerException as exc:
            if not is_retryable(exc):
                raise FolderError(f"model check failed: {exc.message()}") from None
            error: BaseException = exc
        except Exception as exc:
            if not is_retryable(exc):
                raise
            error = exc
        delay = backoff_delay(attempt, _message(error))
        if time.monotonic() + delay > give_up:
            raise FolderError(f"the server was unreachable for {seconds:.0f} s: {error!r}")
        attempt += 1
        await asyncio.sleep(delay)


def add_options(parser: argparse.ArgumentParser) -> None:
    """How a folder run talks to the server; this file's command line and ``rawvision classify --out`` share them."""
    parser.add_argument("--grpc", action="store_true", help="use gRPC instead of HTTP (give the gRPC port in --url)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--batch", type=int, default=0, help="images per request (default: max_batch_size)")
    parser.add_argument("--resume", action="store_true", help="skip files already in --out, append the rest")
    parser.add_argument("--overwrite", action="store_true", help="start --out again if it exists")
    parser.add_argument("--ssl", action="store_true", help="TLS (the front door)")
    parser.add_argument("--ca-cert", type=Path, help="PEM root to trust (implies --ssl), e.g. the front's certificate")
    parser.add_argument("--api-key", default=os.environ.get("RAWVISION_API_KEY"),
                        help="sent as 'Authorization: Bearer KEY' (default: $RAWVISION_API_KEY)")
    parser.add_argument("--retry-seconds", type=float, default=300.0,
                        help="how long to keep retrying while the server is unreachable")


def build_parser() -> argparse.ArgumentParser:
    """The command line of this file."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="image files and folders (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="results.jsonl or results.csv")
    parser.add_argument("--url", default="localhost:8000", help="Triton (or front door) host:port; the gRPC "
                        "port with --grpc")
    parser.add_argument("--model", default="mnist", help="ensemble name")
    add_options(parser)
    return parser


def run(inputs: Sequence[Path], out: Path, args: argparse.Namespace) -> int:
    """Classify ``inputs`` into ``out`` with the options of :func:`add_options` (and ``url``, ``model``) in ``args``."""
    options = Options(args.url, args.model, args.grpc, args.ssl or args.ca_cert is not None, args.ca_cert,
                      args.api_key, args.concurrency, args.batch, args.retry_seconds)
    try:
        summary = asyncio.run(classify_folder(inputs, out, options, args.resume, args.overwrite))
    except (FolderError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: classify folders, print the summary; 0 when every file has its line in the output."""
    args = build_parser().parse_args(argv)
    return run(args.inputs, args.out, args)


if __name__ == "__main__":
    sys.exit(main())
