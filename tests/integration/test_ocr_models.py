"""Model control on the OCR models: explicit mode, unload/load through the API, and version policies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.http as httpclient
from google.protobuf import json_format

from rawvision.client import ocr_client
from rawvision.imaging import encode
from rawvision.ocr.synthetic import render
from rawvision.repository import model_config
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports

pytestmark = pytest.mark.integration
OCR_MODELS = ("ocr", "ocr_recognize")  # the ensemble loads its steps; the recogniser is called by BLS


@pytest.fixture(scope="module")
def explicit(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            model_control_mode="explicit", load_models=OCR_MODELS)
    with (tmp_path_factory.mktemp("log") / "server.log").open("wb") as log, EmbeddedServer(options, log) as server:
        yield server


def ready_versions(client: httpclient.InferenceServerClient, model: str) -> set[str]:
    return {entry["version"] for entry in client.get_model_repository_index()
            if entry["name"] == model and entry.get("state") == "READY"}


def test_load_unload_and_version_policy_on_the_ocr_models(explicit: EmbeddedServer, repository: Path) -> None:
    url = explicit.options.http_url
    client = httpclient.InferenceServerClient(url, network_timeout=300)
    try:
        check_model_control(client, url, repository)
    finally:
        client.close()


def check_model_control(client: httpclient.InferenceServerClient, url: str, repository: Path) -> None:
    picture = render(7)
    photo = encode(picture.pixels, "PNG")

    # Only what was asked for is loaded: the OCR models, not the MNIST ones.
    assert ready_versions(client, "ocr_recognize") == {"1", "2"}  # version_policy: specific [1, 2]
    assert client.is_model_ready("ocr_detect") and not client.is_model_ready("mnist")
    first = [line.text for line in ocr_client.read_text(photo, url)]
    assert "".join(first).replace(" ", "") == "".join(picture.lines).replace(" ", "")

    # Unloaded, the recogniser is gone and the ensemble says which model it misses.
    client.unload_model("ocr_recognize")
    assert not client.is_model_ready("ocr_recognize")
    with pytest.raises(ocr_client.OcrError, match="recognition model ocr_recognize failed"):
        ocr_client.read_text(photo, url)

    # Loaded again with a config that serves only version 1: the ensemble uses it (version -1 = latest).
    config = json_format.MessageToDict(model_config(repository, "ocr_recognize", "embedded"),
                                     preserving_proto_field_name=True)
    config["version_policy"] = {"specific": {"versions": [1]}}
    client.load_model("ocr_recognize", config=json.dumps(config))
    assert ready_versions(client, "ocr_recognize") == {"1"}
    assert not client.is_model_ready("ocr_recognize", "2")
    assert [line.text for line in ocr_client.read_text(photo, url)] == first

    # A plain load of a loaded model keeps its live config (Triton 2.51: a no-op); after an unload, a
    # plain load reads the repository's config again and both versions are back.
    client.load_model("ocr_recognize")
    assert ready_versions(client, "ocr_recognize") == {"1"}
    client.unload_model("ocr_recognize")
    client.load_model("ocr_recognize")
    assert ready_versions(client, "ocr_recognize") == {"1", "2"}
    assert [line.text for line in ocr_client.read_text(photo, url)] == first
