"""Two embedded servers behind a local nginx: both answer, and stopping one fails no request."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from rawvision.imaging import encode
from rawvision.server import metrics
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.nginx import Nginx, nginx_config
from tests.polling import wait_for

pytestmark = pytest.mark.integration


def test_config_lists_every_upstream_and_retries_posts(tmp_path: Path) -> None:
    text = nginx_config(tmp_path, 8080, ["127.0.0.1:1", "127.0.0.1:2"])
    for upstream in ("127.0.0.1:1", "127.0.0.1:2"):
        assert f"server {upstream} max_conns=16 max_fails=1" in text
    assert "non_idempotent" in text and "proxy_next_upstream_tries 2;" in text
    assert "listen 127.0.0.1:8080 backlog=4096;" in text and "daemon off;" in text
    with pytest.raises(ValueError):
        nginx_config(tmp_path, 8080, [])


def answered(server: ServerOptions) -> float:
    samples = metrics.scrape(f"http://{server.host}:{server.metrics_port}/metrics")
    return metrics.value(samples, "nv_inference_request_success", model="mnist")



def test_two_servers_behind_nginx_share_traffic_and_survive_a_stop(repository: Path, mnist_split,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    servers = []
    for index in range(2):
        http, grpc, metrics_port = free_ports(3)
        options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics_port,
                                load_models=("mnist",))
        servers.append(EmbeddedServer(options, (tmp_path / f"server{index}.log").open("wb")))
    (port,) = free_ports(1)
    png, label = encode(mnist_split.test_images[3], "PNG"), str(mnist_split.test_labels[3])
    events: list[tuple[float, str]] = []
    stop = threading.Event()

    def stream(url: str) -> None:
        client = httpclient.InferenceServerClient(url, network_timeout=120)
        image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
        image.set_data_from_numpy(np.array([[png]], dtype=np.object_))
        while not stop.is_set():
            sent = time.monotonic()
            try:
                result = client.infer("mnist", [image], outputs=[httpclient.InferRequestedOutput("LABELS")])
                got = result.as_numpy("LABELS")[0][0].decode()
                events.append((sent, "ok" if got == label else f"wrong label {got}"))
            except Exception as exc:  # every kind of failure counts
                events.append((sent, f"error: {exc!r}"))
        client.close()

    try:
        for server in servers:
            server.start(timeout=300)
        with Nginx(port, [s.options.http_url for s in servers]) as nginx:
            threads = [threading.Thread(target=stream, args=(nginx.url,)) for _ in range(4)]
            for thread in threads:
                thread.start()
            try:
                assert wait_for(lambda: all(answered(s.options) >= 20 for s in servers)), \
                    [answered(s.options) for s in servers]
                first, second = servers
                stopped_at = time.monotonic()
                assert first.stop() == 0  # SIGTERM: Triton finishes what it holds, then exits
                assert wait_for(lambda: sum(sent > stopped_at for sent, _ in events) >= 100)
                after_stop = answered(second.options)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
            log = nginx.error_log()
    finally:
        for server in servers:
            server.stop()
    failures = [answer for _, answer in events if answer != "ok"]
    assert failures == [], (failures[:5], log[-2000:])
    assert after_stop > 0
    print(f"behind nginx: {len(events)} requests, {len(failures)} failed; nginx logged "
          f"{log.count('upstream')} upstream events when one server stopped")
