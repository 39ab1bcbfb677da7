"""The ``rawvision`` command as a user runs it: serve until a signal, classify files against it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rawvision.imaging import encode
from rawvision.server.embedded import ServerOptions, free_ports

pytestmark = pytest.mark.integration
RAWVISION = str(Path(sys.executable).with_name("rawvision"))


def test_serve_answers_classify_and_stops_cleanly_on_sigint(repository, mnist_split, tmp_path) -> None:  # type: ignore[no-untyped-def]
    http, grpc, metrics, supervisor = free_ports(4)
    serve = subprocess.Popen(
        [RAWVISION, "serve", "--repository", str(repository), "--http-port", str(http),
         "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--supervisor-port", str(supervisor)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert serve.stdout is not None
        ready = serve.stdout.readline()
        assert f"HTTP http://127.0.0.1:{http}" in ready, ready
        started = serve.stdout.readline()
        assert re.search(r"warm-up: [1-9]\d* executions on [1-9]\d* steps", started), started
        files = []
        for i in range(3):
            path = tmp_path / f"digit{i}.png"
            path.write_bytes(encode(mnist_split.test_images[i], "PNG"))
            files.append(path)
        out = subprocess.run([RAWVISION, "classify", "--url", ServerOptions(http_port=http).http_url,
                              *map(str, files)], capture_output=True, text=True, check=True).stdout
        for path, label in zip(files, mnist_split.test_labels[:3], strict=True):
            block = out.split(str(path))[1].splitlines()
            assert block[1].strip().endswith(f"({label}) = {label}"), out
    finally:
        serve.send_signal(signal.SIGINT)
        code = serve.wait(timeout=60)
    assert code == 0
