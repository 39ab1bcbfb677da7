"""Seeing the answer on a real server: ``rawvision detect --out``, the copied thin client, the folder client."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rawvision.cli.detect import write_annotated
from rawvision.client import folder_client
from rawvision.imaging import encode
from rawvision.server.embedded import ServerOptions
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.integration
RAWVISION = str(Path(sys.executable).with_name("rawvision"))
CLIENT = Path(__file__).resolve().parents[2] / "src" / "rawvision" / "client" / "detect_client.py"


def needs_model(core: str) -> None:
    """Skip when the core model's file is not built (``make models``); a missing config still fails."""
    path = REPOSITORY / core / "1" / "model.onnx"
    if not path.is_file():
        pytest.skip(f"{path.relative_to(REPOSITORY.parent)} is not built: run `make models`")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The astronaut (one face) and the coffee cup (none) as JPEG files."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name in ("astronaut", "coffee"):
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(encode(getattr(data, name)(), "JPEG", quality=90))
    return paths


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_detect_out_draws_the_returned_box_on_a_copy(server: ServerOptions, photos: dict[str, Path],
                                                     tmp_path: Path) -> None:
    needs_model("faces_onnx")
    out = tmp_path / "annotated"
    result = subprocess.run([RAWVISION, "detect", "--url", server.http_url, "--json", "--out", str(out),
                             str(photos["astronaut"]), str(photos["coffee"])],
                            capture_output=True, text=True, check=True)
    astronaut, coffee = json_lines(result.stdout)
    assert (astronaut["count"], coffee["count"]) == (len(astronaut["detections"]), 0)
    assert astronaut["count"] >= 1
    face = astronaut["detections"][0]
    assert face["label"] == "face" and len(face["landmarks"]) == 5
    # The same copy with nothing drawn: only the drawing differs, not the JPEG re-encoding.
    write_annotated(photos["astronaut"], [], tmp_path / "plain.jpg")
    plain = np.asarray(Image.open(tmp_path / "plain.jpg").convert("RGB")).astype(np.int16)
    drawn = np.asarray(Image.open(out / "astronaut.jpg").convert("RGB")).astype(np.int16)
    assert Image.open(out / "astronaut.jpg").format == "JPEG" and drawn.shape == plain.shape
    x1, y1, x2, y2 = (round(v) for v in face["box"])
    assert 0 <= x1 < x2 <= plain.shape[1] and 0 <= y1 < y2 <= plain.shape[0]
    changed = np.abs(drawn - plain).max(axis=2) > 40
    assert changed[y1:y2, x1:x2].sum() >= (x2 - x1) + (y2 - y1)  # the outline (and landmarks) at least
    assert not changed[y2 + 16:].any()  # nothing below the face
    assert (out / "coffee.jpg").is_file()


def test_detect_prints_a_line_per_box_and_refuses_a_bad_option(server: ServerOptions,
                                                               photos: dict[str, Path]) -> None:
    needs_model("faces_onnx")
    text = subprocess.run([RAWVISION, "detect", "--url", server.http_url, str(photos["astronaut"]),
                           str(photos["coffee"])], capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    assert any(line.startswith(f"{photos['astronaut']}  face  ") for line in lines), text
    assert f"{photos['coffee']}  no detections" in lines
    refused = subprocess.run([RAWVISION, "detect", "--url", server.http_url, "--iou-threshold", "1.5",
                              str(photos["astronaut"])], capture_output=True, text=True)
    assert refused.returncode == 1 and "iou_threshold" in refused.stderr and "1.5" in refused.stderr


def run_copied_client(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The thin client copied alone into ``folder`` and run with rawvision made unimportable."""
    copy = folder / CLIENT.name
    copy.write_text(CLIENT.read_text(encoding="utf-8"), encoding="utf-8")
    code = (f"import runpy, sys; sys.modules['rawvision'] = None; sys.argv = [{str(copy)!r}, *{list(args)!r}]; "
            f"runpy.run_path({str(copy)!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder)


def test_the_copied_thin_client_answers_with_per_request_options(server: ServerOptions, photos: dict[str, Path],
                                                                 mnist_split: Any, tmp_path: Path) -> None:
    needs_model("mnist_detect_onnx")
    from rawvision.testing.digit_scenes import make_scenes

    scenes = make_scenes(mnist_split.test_images, mnist_split.test_labels, count=2, seed=5)
    paths = []
    for index, scene in enumerate(scenes):
        paths.append(tmp_path / f"scene{index}.png")
        paths[-1].write_bytes(encode(scene.image, "PNG"))
    common = ["--url", server.http_url, "--model", "mnist_detect", "--json", *map(str, paths)]
    every = run_copied_client(tmp_path, *common)
    assert every.returncode == 0, every.stderr
    answers = json_lines(every.stdout)
    assert [a["file"] for a in answers] == list(map(str, paths))
    assert all(1 <= a["count"] == len(a["detections"]) for a in answers)
    assert all(d["label"] in "0123456789" and "landmarks" not in d for a in answers for d in a["detections"])
    one = run_copied_client(tmp_path, "--max-detections", "1", *common)
    assert one.returncode == 0, one.stderr
    assert [a["count"] for a in json_lines(one.stdout)] == [1, 1]
    assert [a["detections"][0] for a in json_lines(one.stdout)] == [a["detections"][0] for a in answers]


def test_the_folder_client_writes_detection_lines(server: ServerOptions, photos: dict[str, Path],
                                                  tmp_path: Path) -> None:
    needs_model("faces_onnx")
    folder = tmp_path / "in"
    folder.mkdir()
    for path in photos.values():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(photos["astronaut"].read_bytes()[:200])
    out = tmp_path / "faces.jsonl"
    options = folder_client.Options(url=server.http_url, model="faces", concurrency=2)
    summary = asyncio.run(folder_client.classify_folder([folder], out, options, stream=io.StringIO()))
    assert (summary.answered, sum(summary.errors.values())) == (2, 1)
    lines = {Path(line["file"]).name: line for line in json_lines(out.read_text())}
    assert lines["astronaut.jpg"]["count"] == len(lines["astronaut.jpg"]["detections"]) >= 1
    assert set(lines["astronaut.jpg"]["detections"][0]) == {"label", "score", "class_id", "box", "landmarks"}
    assert lines["coffee.jpg"] == {"file": str(folder / "coffee.jpg"), "count": 0, "detections": []}
    assert lines["broken.jpg"]["error"] and "labels" not in lines["broken.jpg"]
