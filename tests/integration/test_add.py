"""``rawvision add --url``: a user's model becomes a served raw-bytes pipeline on a running server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.http as httpclient

from rawvision.client import classify_client
from rawvision.server.control import ModelControl
from rawvision.server.embedded import EmbeddedServer
from rawvision.testing.photos import jpeg, photo
from tests.conftest import REPOSITORY
from tests.integration.conftest import ADMIN_KEY, empty_locked_server

pytestmark = pytest.mark.integration
KEY = ADMIN_KEY
RAWVISION = str(Path(sys.executable).with_name("rawvision"))
MODEL = REPOSITORY / "imagenet_onnx" / "1" / "model.onnx"
LABELS = REPOSITORY / "imagenet_postprocess" / "labels.txt"
CATS = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with empty_locked_server(tmp_path_factory) as running:
        yield running


def rawvision_add(server: EmbeddedServer, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAWVISION, "add", "photos", "--model", str(MODEL), "--labels", str(LABELS),
                           "--preset", "efficientnet-lite", "--repository", str(server.options.repository),
                           "--url", server.options.http_url, "--admin-key", KEY, *extra],
                          capture_output=True, text=True, check=False, timeout=600)


def test_add_loads_the_pipeline_and_it_classifies_photos(empty_server: EmbeddedServer) -> None:
    result = rawvision_add(empty_server)
    assert result.returncode == 0, result.stderr
    assert "added photos: photos_preprocess → photos_onnx → photos_postprocess" in result.stdout
    assert "smoke image →" in result.stdout
    client = classify_client.Client(empty_server.options.http_url, "photos")
    try:
        chelsea, coffee = client.classify([jpeg(photo("chelsea")), jpeg(photo("coffee"))])
    finally:
        client.close()
    assert CATS & {p.label for p in chelsea[:3]}, chelsea
    assert coffee[0].label == "espresso", coffee


def test_the_served_core_declares_its_image_format(empty_server: EmbeddedServer) -> None:
    """What NVIDIA's image_client.py checks first: an NCHW (or NHWC) image input, not FORMAT_NONE."""
    client = httpclient.InferenceServerClient(empty_server.options.http_url)
    try:
        config = client.get_model_config("photos_onnx")
        metadata = client.get_model_metadata("photos_onnx")
    finally:
        client.close()
    assert config["input"][0]["format"] == "FORMAT_NCHW"
    assert metadata["inputs"][0]["shape"] == [-1, 3, 224, 224]


def test_adding_again_publishes_a_new_core_version(empty_server: EmbeddedServer) -> None:
    result = rawvision_add(empty_server)
    assert result.returncode == 0, result.stderr
    assert "photos: photos_onnx version 2 published" in result.stdout
    with ModelControl(empty_server.options.http_url, KEY) as control:
        assert control.ready_versions("photos_onnx") == ["2"]
        assert {row.name for row in control.models() if row.state == "READY"} >= {"photos", "photos_preprocess"}
