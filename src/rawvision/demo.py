"""The README's first command: start the embedded server, classify sample digits as PNG and JPEG, stop."""

from __future__ import annotations

from pathlib import Path

import rawvision_client
from rawvision.export.mnist import load_split
from rawvision.samples import write_samples
from rawvision.triton.server import EmbeddedServer, ServerOptions, free_ports

DIGITS = [str(i) for i in range(10)]


def run_demo(repository: Path, out: Path, count: int = 6) -> int:
    """Write held-out digits, serve ``repository`` on free ports, classify them in one batch each, stop."""
    split = load_split(None)
    files = (write_samples(split.test_images, split.test_labels, DIGITS, out / "png", count, "PNG")
             + write_samples(split.test_images, split.test_labels, DIGITS, out / "jpeg", count, "JPEG"))
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics)
    print(f"starting the embedded Triton server on {options.http_url} ...", flush=True)
    with EmbeddedServer(options):
        client = rawvision_client.Client(options.http_url, "mnist")
        answers = client.classify_files(files)
        print(rawvision_client.format_answers(files, answers))
        right = sum(a[0].label == p.stem.split("_")[1] for p, a in zip(files, answers, strict=True))
        print(f"\n{right}/{len(files)} sample digits right (file names carry the true digit)")
        try:
            client.classify([b"this is not an image"])
        except rawvision_client.ClientError as exc:
            print(f"a bad payload is refused per request: {exc}")
        client.close()
    print("server stopped")
    return 0
