"""Exactly once: a folder run of 2,000 digits survives two kill -9 restarts of the server; each file once, right."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rawvision.client.folder_client import Options, Summary, classify_folder
from rawvision.imaging import encode
from rawvision.loadtest.chaos import kill_whole
from rawvision.loadtest.evaluate import in_process
from rawvision.pipelines.reader import read_pipeline
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from tests.polling import wait_for

pytestmark = pytest.mark.integration

FILES = 2_000
KILLS = 2


@pytest.fixture(scope="module")
def digits(mnist_split: Any, repository: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """2,000 digit files (PNG and JPEG of the held-out digits) the model classifies right in process.

    So "right" through the server means the label itself.
    """
    pipeline = read_pipeline(repository, "mnist")
    images, truth = mnist_split.test_images, mnist_split.test_labels
    candidates = [(i, fmt, encode(images[i], fmt)) for fmt in ("PNG", "JPEG") for i in range(len(images))]
    candidates += [(i, "fast.PNG", fast_png(images[i])) for i in range(len(images))]  # same pixels, other bytes
    predicted = in_process(pipeline, [payload for _, _, payload in candidates]).predicted
    right = [c for c, p in zip(candidates, predicted, strict=True) if p == int(truth[c[0]])][:FILES]
    assert len(right) == FILES
    root = tmp_path_factory.mktemp("digits")
    labels = {}
    for index, fmt, payload in right:
        path = root / f"{index:05d}_{truth[index]}.{fmt.lower()}"
        path.write_bytes(payload)
        labels[str(path)] = str(truth[index])
    return root, labels


def fast_png(image: np.ndarray) -> bytes:
    """The digit as a PNG at the lowest compression level."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture
def servers() -> Iterator[list[EmbeddedServer]]:
    started: list[EmbeddedServer] = []
    yield started
    for server in started:
        server.stop()


def test_two_kills_mid_run_leave_each_file_exactly_once_and_right(digits: tuple[Path, dict[str, str]],
                                                                   repository: Path, servers: list[EmbeddedServer],
                                                                   tmp_path: Path) -> None:
    root, labels = digits
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            load_models=("mnist",))
    servers.append(EmbeddedServer(options, (tmp_path / "server.log").open("ab")).start(timeout=300))
    out = tmp_path / "results.jsonl"
    client_options = Options(url=options.http_url, model="mnist", concurrency=4, batch=8, retry_seconds=300)
    outcome: list[Summary | BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(classify_folder([root], out, client_options, stream=io.StringIO())))
        except BaseException as exc:  # reported by the assertions below
            outcome.append(exc)

    def lines() -> int:
        return out.read_bytes().count(b"\n") if out.is_file() else 0

    client = threading.Thread(target=run)
    client.start()
    at_kill = []
    try:
        for kill in range(KILLS):
            goal = (kill + 1) * FILES // (KILLS + 1)
            assert wait_for(lambda: lines() >= goal or bool(outcome), limit=300)  # noqa: B023 (used at once)
            at_kill.append(lines())
            kill_whole(servers[-1])
            servers.append(EmbeddedServer(options, (tmp_path / "server.log").open("ab")).start(timeout=300))
    finally:
        client.join(timeout=600)
    assert not client.is_alive()
    (summary,) = outcome
    assert isinstance(summary, Summary), summary
    records = [json.loads(line) for line in out.read_text().splitlines()]
    files = Counter(record["file"] for record in records)
    wrong = [r for r in records if "error" in r or r["labels"][0] != labels[r["file"]]]
    print(f"folder client, {FILES} digits, server killed (-9) at {at_kill} lines and restarted: "
          f"{len(records)} lines, {len(files)} files, {max(files.values())} max per file, {len(wrong)} wrong or "
          f"failed, {summary.retries} retries")
    assert at_kill[-1] < FILES  # both kills came mid-run
    assert len(records) == FILES and set(files) == set(labels) and max(files.values()) == 1
    assert wrong == [], wrong[:3]
    assert summary.retries > 0
    assert np.all([r["scores"][0] > 0 for r in records])
