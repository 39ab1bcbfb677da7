"""The folder client on 1,000 files with bad ones among them, while the server restarts mid-run."""

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

from rawvision.client import folder_client
from rawvision.client.folder_client import Options, Summary, classify_folder
from rawvision.imaging import encode
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from tests.polling import wait_for

pytestmark = pytest.mark.integration

GOOD = 990


def bad_files(folder: Path, digit: bytes) -> dict[str, bytes]:
    """Ten files the server must refuse, each for a reason a real folder may hold."""
    folder.mkdir()
    files = {
        "truncated_1.png": digit[:60], "truncated_2.png": digit[:len(digit) // 2], "truncated_3.jpg": digit[:30],
        "not_an_image_1.png": b"just some text\n", "not_an_image_2.jpg": b"%PDF-1.4 not really",
        "oversized_1.png": digit + b"\0" * (1 << 21), "oversized_2.jpg": b"\xff\xd8\xff" + b"\0" * (1 << 21),
        "empty.png": b"", "strip_1.png": encode(np.zeros((1, 200), np.uint8)),
        "strip_2.png": encode(np.zeros((300, 2), np.uint8)),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {str(folder / name): data for name, data in files.items()}


@pytest.fixture(scope="module")
def corpus(mnist_split: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], set[str]]:
    """990 digits (PNG and JPEG, in nested folders, named by label) and 10 bad files."""
    root = tmp_path_factory.mktemp("photos")
    labels: dict[str, str] = {}
    for index in range(GOOD):
        image, label = mnist_split.test_images[index], str(mnist_split.test_labels[index])
        fmt = "JPEG" if index % 4 == 0 else "PNG"
        path = root / "digits" / f"batch{index % 7}" / f"{index:04d}.{fmt.lower().replace('jpeg', 'jpg')}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(image, fmt))  # type: ignore[arg-type]
        labels[str(path)] = label
    (root / "digits" / "notes.txt").write_text("not an image suffix: never sent\n")
    bad = set(bad_files(root / "bad", encode(mnist_split.test_images[0], "PNG")))
    return root, labels, bad


class PausingStream(io.StringIO):
    """The progress stream; its first line at or past 30% blocks the client's event loop until released."""

    def __init__(self) -> None:
        super().__init__()
        self.paused, self.release = threading.Event(), threading.Event()

    def write(self, text: str) -> int:
        if not self.paused.is_set() and "/1000  " in text and int(text.split("] ")[1].split("/")[0]) >= 300:
            self.paused.set()
            self.release.wait()
        return super().write(text)


@pytest.fixture
def server_options(repository: Path) -> ServerOptions:
    http, grpc, metrics = free_ports(3)
    return ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                         load_models=("mnist",))


@pytest.fixture
def servers(server_options: ServerOptions, tmp_path: Path) -> Iterator[list[EmbeddedServer]]:
    started: list[EmbeddedServer] = []
    yield started
    for server in started:
        server.stop()


def read_lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("grpc", [False, True], ids=["http", "grpc"])
def test_a_thousand_files_survive_a_server_restart_and_resume_adds_nothing(
        corpus: tuple[Path, dict[str, str], set[str]], server_options: ServerOptions,
        servers: list[EmbeddedServer], tmp_path: Path, grpc: bool) -> None:
    root, labels, bad = corpus
    servers.append(EmbeddedServer(server_options, (tmp_path / "first.log").open("wb")).start(timeout=300))
    out = tmp_path / "results.jsonl"
    url = server_options.grpc_url if grpc else server_options.http_url
    options = Options(url=url, model="mnist", grpc=grpc, concurrency=4, batch=8, retry_seconds=300)
    stream = PausingStream()
    outcome: list[Summary | BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(classify_folder([root], out, options, stream=stream)))
        except BaseException as exc:  # reported by the assertions below
            outcome.append(exc)

    client = threading.Thread(target=run)
    client.start()
    try:
        assert wait_for(stream.paused.is_set, limit=300), outcome
        before_restart = len(read_lines(out))
        servers[0].stop(timeout=5)  # SIGTERM; killed if the paused client's idle connections hold it
        stream.release.set()  # the client now meets a server that is away
        second = EmbeddedServer(server_options, (tmp_path / "second.log").open("wb"))
        servers.append(second)
        second.start(timeout=300)
    finally:
        stream.release.set()
        client.join(timeout=600)
    assert not client.is_alive()
    (summary,) = outcome
    assert isinstance(summary, Summary), summary
    lines = read_lines(out)
    files = Counter(line["file"] for line in lines)
    assert 300 <= before_restart < 1000
    assert set(files) == set(labels) | bad and max(files.values()) == 1  # every file exactly once
    assert summary.retries > 0 and summary.found == 1000 and summary.answered == GOOD
    by_file = {line["file"]: line for line in lines}
    assert all("error" in by_file[name] and by_file[name]["cause"] for name in bad)
    assert all(len(by_file[name]["labels"]) == 3 and "error" not in by_file[name] for name in labels)
    correct = sum(by_file[name]["labels"][0] == label for name, label in labels.items())
    assert correct >= 0.95 * GOOD, correct
    causes = Counter(by_file[name]["cause"] for name in bad)
    assert sum(causes.values()) == 10 and sum(summary.errors.values()) == 10 and len(causes) >= 4, causes

    again = asyncio.run(classify_folder([root], out, options, resume=True, stream=io.StringIO()))
    assert (again.skipped, again.requests, again.answered) == (1000, 0, 0)
    assert read_lines(out) == lines


def test_an_existing_output_needs_resume_or_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text('{"file": "a.png", "error": "x", "cause": "x"}\n{"file": "b.p')  # cut by a crash
    with pytest.raises(folder_client.FolderError):
        folder_client.ResultFile(out, resume=False)
    results = folder_client.ResultFile(out, resume=True)
    assert results.done == {"a.png"}
    results.close()
    assert out.read_text() == '{"file": "a.png", "error": "x", "cause": "x"}\n'  # the cut line is redone
