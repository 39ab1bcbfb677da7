"""The folder client with a detection pipeline: recognised from the model's outputs, lines hold trimmed boxes."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rawvision.client import folder_client
from rawvision.client.folder_client import FolderError, Options, ResultFile, Transport, detection_outcomes


def detection_config(landmarks: bool) -> dict[str, Any]:
    outputs = ["BOXES", "SCORES", "CLASS_IDS", "LABELS", "COUNT"] + (["LANDMARKS"] if landmarks else [])
    return {"max_batch_size": 8, "input": [{"name": "IMAGE", "data_type": "TYPE_STRING"}],
            "output": [{"name": name} for name in outputs]}


class FakeClient:
    """The parts of tritonclient's aio client the transport uses, answering from a fixed config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    async def get_model_config(self, model: str, headers: Any = None) -> dict[str, Any]:
        return self.config

    async def close(self) -> None:
        pass


@pytest.fixture
def serve_config(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the transport's HTTP client one that answers with the given config."""
    def serve(config: dict[str, Any]) -> None:
        monkeypatch.setattr("tritonclient.http.aio.InferenceServerClient", lambda *_, **__: FakeClient(config))
    return serve


def checked(options: Options) -> tuple[Transport, int]:
    """A transport after its model check, and the max batch size the check found."""
    async def check() -> tuple[Transport, int]:
        transport = Transport(options)
        return transport, await transport.max_batch_size()
    return asyncio.run(check())


@pytest.mark.parametrize("landmarks", [False, True])
def test_a_model_with_count_and_boxes_is_a_detection_pipeline(landmarks: bool, serve_config: Any) -> None:
    serve_config(detection_config(landmarks))
    transport, limit = checked(Options(model="faces"))
    assert limit == 8
    assert transport.detects
    assert ("LANDMARKS" in transport.outputs) is landmarks


def test_a_classifier_keeps_top_k(serve_config: Any) -> None:
    serve_config({"max_batch_size": 4, "input": [{"name": "IMAGE", "data_type": "TYPE_STRING"}],
                  "output": [{"name": name} for name in ("LABELS", "SCORES", "CLASS_IDS")]})
    transport, limit = checked(Options(model="mnist"))
    assert limit == 4
    assert not transport.detects and transport.outputs == folder_client.OUTPUTS


def test_detection_lines_hold_the_rows_count_says_are_real(tmp_path: Path) -> None:
    boxes = np.zeros((2, 3, 4), np.float32)
    boxes[0, :2] = [[1, 2, 3, 4], [5, 6, 7, 8.123]]
    outputs = {"BOXES": boxes, "SCORES": np.array([[0.9, 0.7, 0], [0, 0, 0]], np.float32),
               "CLASS_IDS": np.array([[0, 0, 0], [0, 0, 0]], np.int64),
               "LABELS": np.array([[b"face", b"face", b""], [b"", b"", b""]], dtype=np.object_),
               "COUNT": np.array([[2], [0]], np.int32),
               "LANDMARKS": np.ones((2, 3, 5, 2), np.float32)}
    first, second = detection_outcomes(outputs)
    out = tmp_path / "results.jsonl"
    results = ResultFile(out, resume=False)
    results.write([replace(first, file="a.jpg"), replace(second, file="b.jpg")])
    results.close()
    a, b = (json.loads(line) for line in out.read_text().splitlines())
    assert a["file"] == "a.jpg" and a["count"] == 2 and len(a["detections"]) == 2
    assert a["detections"][1] == {"label": "face", "score": pytest.approx(0.7), "class_id": 0,
                                  "box": [5.0, 6.0, 7.0, 8.12], "landmarks": [[1.0, 1.0]] * 5}
    assert b == {"file": "b.jpg", "count": 0, "detections": []}
    assert ResultFile(out, resume=True).done == {"a.jpg", "b.jpg"}


def test_a_count_beyond_the_rows_is_refused() -> None:
    outputs = {"BOXES": np.zeros((1, 1, 4), np.float32), "SCORES": np.zeros((1, 1), np.float32),
               "CLASS_IDS": np.zeros((1, 1), np.int64), "LABELS": np.array([[b""]], dtype=np.object_),
               "COUNT": np.array([[2]], np.int32)}
    with pytest.raises(FolderError, match="COUNT"):
        detection_outcomes(outputs)


def test_detections_to_csv_are_refused_before_anything_is_sent(tmp_path: Path, serve_config: Any) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"x")
    serve_config(detection_config(True))
    out = tmp_path / "results.csv"
    with pytest.raises(FolderError, match=r"\.jsonl"):
        asyncio.run(folder_client.classify_folder([tmp_path / "in"], out, Options(model="faces"),
                                                  stream=io.StringIO()))
    assert not out.exists()
