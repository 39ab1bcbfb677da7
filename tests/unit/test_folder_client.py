"""The folder client's pure parts: finding files, naming causes, writing and resuming the output."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from tritonclient.utils import InferenceServerException

from rawvision.client.folder_client import (
    FolderError,
    Outcome,
    Progress,
    ResultFile,
    Summary,
    error_cause,
    find_images,
    is_retryable,
)


def test_find_images_walks_folders_by_suffix_and_keeps_named_files(tmp_path: Path) -> None:
    for name in ("a/1.png", "a/b/2.JPG", "a/b/3.jpeg", "a/notes.txt", "c.bin"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = find_images([tmp_path / "a", tmp_path / "c.bin"])
    assert found == [tmp_path / "a/1.png", tmp_path / "a/b/2.JPG", tmp_path / "a/b/3.jpeg", tmp_path / "c.bin"]


@pytest.mark.parametrize(("message", "cause"), [
    ("in ensemble 'mnist', IMAGE[3]: not a decodable image (7 bytes starting b'garbage'); expected one of PNG",
     "not a decodable image"),
    ("in ensemble 'mnist', IMAGE[0]: payload of 1100004 bytes exceeds the limit of 1048576 bytes",
     "payload of N bytes exceeds the limit of N bytes"),
    ("request body larger than 1114112 bytes", "request body larger than N bytes"),
])
def test_error_cause_drops_what_varies(message: str, cause: str) -> None:
    assert error_cause(message) == cause


def test_retryable_means_away_overloaded_or_rate_limited() -> None:
    assert is_retryable(InferenceServerException("refused", status="StatusCode.UNAVAILABLE"))
    assert is_retryable(InferenceServerException("overloaded", status="503"))
    assert is_retryable(InferenceServerException("slow down", status="429"))
    assert is_retryable(ConnectionRefusedError())
    assert is_retryable(InferenceServerException("rate limit: more", status="StatusCode.RESOURCE_EXHAUSTED"))
    assert not is_retryable(InferenceServerException("body too large", status="StatusCode.RESOURCE_EXHAUSTED"))
    assert not is_retryable(InferenceServerException("bad image", status="400"))
    assert not is_retryable(ValueError("bug"))


def test_csv_output_resumes_by_file_name(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    results = ResultFile(out, resume=False)
    results.write([Outcome("a.png", ("4", "9"), (0.9, 0.1), (4, 9)), Outcome("b.png", error="bad", cause="bad")])
    results.close()
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["labels"] == "4|9" and rows[0]["class_ids"] == "4|9" and rows[1]["error"] == "bad"
    again = ResultFile(out, resume=True)
    assert again.done == {"a.png", "b.png"}
    again.write([Outcome("c.png", ("1",), (1.0,), (1,))])
    again.close()
    assert [row["file"] for row in csv.DictReader(out.open())] == ["a.png", "b.png", "c.png"]  # one header
    with pytest.raises(FolderError):
        ResultFile(tmp_path / "results.txt", resume=False)


def test_progress_without_a_terminal_writes_a_line_per_tenth() -> None:
    stream = io.StringIO()
    progress = Progress(100, stream)
    for _ in range(50):
        progress.add(2, 0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("[" + "#" * 30 + "] 100/100 100%")
    assert "images/s" in lines[-1]


def test_summary_counts_errors_by_cause() -> None:
    summary = Summary(found=5, skipped=1, answered=2, errors=Counter({"bad": 2}), requests=3, seconds=2.0)
    lines = summary.lines()
    assert lines[0] == "5 files: 2 classified, 2 errors, 1 skipped (already in the output)"
    assert lines[1].startswith("2.0 images/s") and lines[2] == "  2 × bad"


def test_an_unreachable_server_stops_the_run_without_writing(tmp_path: Path) -> None:
    from rawvision.client import folder_client
    from rawvision.server.embedded import free_ports

    (tmp_path / "1.png").write_bytes(b"x")
    (port,) = free_ports(1)
    options = folder_client.Options(url=f"127.0.0.1:{port}", retry_seconds=0.5)
    out = tmp_path / "out.jsonl"
    with pytest.raises(FolderError, match="unreachable"):
        asyncio.run(folder_client.classify_folder([tmp_path], out, options, stream=io.StringIO()))
    assert out.read_text() == ""  # nothing recorded: --resume will send it
