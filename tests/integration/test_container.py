"""The Dockerfile's base release against the Triton version the embedded server really runs."""

from __future__ import annotations

import pytest
import tritonclient.http as httpclient

from rawvision.server.embedded import ServerOptions
from tests.unit.test_dockerfile import EMBEDDED_TRITON, RELEASES, base_release

pytestmark = pytest.mark.integration


def test_embedded_server_runs_the_triton_of_the_container_release(server: ServerOptions) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        metadata = client.get_server_metadata()
    finally:
        client.close()
    assert metadata["version"].rsplit(".", 1)[0] == EMBEDDED_TRITON == RELEASES[base_release()]
    assert "classification" in metadata["extensions"]
