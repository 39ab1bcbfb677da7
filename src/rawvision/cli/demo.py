"""The README's first command: start the embedded server, send every pipeline real image bytes, stop.

Digits (PNG and JPEG) to ``mnist``, clothes to ``fashion_mnist``, scikit-image's photos to ``imagenet``,
a rendered text picture to ``ocr``, the astronaut to ``faces`` and a scene of digits to ``mnist_detect``,
each through the thin clients as a user would; the boxes found are drawn on copies
(``<out>/faces-annotated.jpg``, ``<out>/digits-annotated.png``), and the server's log goes to
``<out>/server.log`` so the answers stay readable. Last, "your own model": ``rawvision add``
turns a model file the project already has (EfficientNet-Lite0) into a new pipeline in a repository of
its own, served and asked about the same photos.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from rawvision.cli.detect import write_annotated
from rawvision.client import classify_client, detect_client, ocr_client
from rawvision.export.datasets import test_set
from rawvision.imaging import encode
from rawvision.ocr.synthetic import render
from rawvision.pipelines.add import add_pipeline
from rawvision.pipelines.reader import read_pipeline
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.testing.digit_scenes import make_scenes
from rawvision.testing.samples import write_samples

PHOTOS = ("chelsea", "coffee", "astronaut")  # the astronaut: a face for the page (faces)
FACE_PHOTOS = ("astronaut", "coffee")  # one face, and none: COUNT 0 is an answer too


def _classify(url: str, model: str, paths: list[Path], labels: np.ndarray | None) -> None:
    """Classify ``paths`` with ``model`` (as many per request as it takes) and print the answers."""
    client = classify_client.Client(url, model)
    try:
        answers = client.classify_files(paths)
    finally:
        client.close()
    print(f"\n== {model}: {len(paths)} files, {client.max_batch_size} per request at most")
    print(classify_client.format_answers(paths, answers))
    if labels is not None:
        right = sum(a[0].class_id == int(label) for a, label in zip(answers, labels, strict=True))
        print(f"{right}/{len(paths)} right")


def _detect(url: str, model: str, paths: list[Path], annotated: Path) -> None:
    """Detect in ``paths`` with ``model``, print one line per box, draw the first file's boxes on ``annotated``."""
    client = detect_client.Client(url, model)
    try:
        answers = client.detect_files(paths)
        print(f"\n== {model}: {len(paths)} files; per file COUNT boxes (x1, y1, x2, y2 in its own pixels)")
        print(detect_client.format_lines(paths, answers))
        write_annotated(paths[0], answers[0], annotated)
        print(f"drew {len(answers[0])} box(es) on {annotated}")
        strict = client.detect_files(paths[:1], detect_client.Options(max_detections=1, score_threshold=0.9))
        print(f"the same with per-request options max_detections=1, score_threshold=0.9: {len(strict[0])} box(es)")
        try:
            client.detect_files(paths[:1], detect_client.Options(score_threshold=1.5))
        except detect_client.DetectError as exc:
            print(f"an out-of-range option is refused: {exc}")
    finally:
        client.close()


def _digit_scene(out: Path, digits: np.ndarray, labels: np.ndarray) -> Path:
    """A dark canvas with a few held-out digits on it, as PNG; prints the digits drawn."""
    scene = make_scenes(digits, labels, count=1, seed=18)[0]
    path = out / "digit-scene.png"
    path.write_bytes(encode(scene.image, "PNG"))
    boxes = "  ".join(f"{label} ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f})"
                      for label, (x1, y1, x2, y2) in zip(scene.labels, scene.boxes, strict=True))
    print(f"{path}: {scene.image.shape[1]}x{scene.image.shape[0]}, digits drawn: {boxes}")
    return path


def _photos(out: Path, names: tuple[str, ...] = PHOTOS) -> list[Path]:
    """scikit-image's photos as JPEG files."""
    from skimage import data

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = out / f"{name}.jpg"
        path.write_bytes(encode(getattr(data, name)(), "JPEG", quality=90))
        paths.append(path)
    return paths


PAGE_HINT = """
== see it in a browser: two shells
  .venv/bin/rawvision serve
  RAWVISION_API_KEY=choose-a-key .venv/bin/rawvision front --upstream 127.0.0.1:8000
then open https://localhost:8443/?model=faces (self-signed certificate: accept it once), enter the key,
and drop {photos}/astronaut.jpg (or any photo) on the page (docs/page.md)."""


def run_demo(repository: Path, out: Path, count: int = 6) -> int:
    """Write sample inputs, serve ``repository`` on free ports, send them through every pipeline, stop."""
    digits, digit_labels, digit_names = test_set("mnist")
    clothes, cloth_labels, cloth_names = test_set("fashion-mnist")
    digit_files = (write_samples(digits, digit_labels, digit_names, out / "mnist", count, "PNG")
                   + write_samples(digits, digit_labels, digit_names, out / "mnist", count, "JPEG"))
    cloth_files = write_samples(clothes, cloth_labels, cloth_names, out / "fashion_mnist", count, "PNG")
    photo_files = _photos(out / "photos")
    text = render(seed=7)
    text_file = out / "text.png"
    text_file.write_bytes(encode(text.pixels, "PNG"))
    face_files = _photos(out / "photos", FACE_PHOTOS)
    scene_file = _digit_scene(out, digits, digit_labels)

    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics)
    print(f"starting the embedded Triton server on {options.http_url} (log: {out / 'server.log'}) ...", flush=True)
    with (out / "server.log").open("wb") as log, EmbeddedServer(options, log):
        _classify(options.http_url, "mnist", digit_files, np.concatenate([digit_labels[:count]] * 2))
        _classify(options.http_url, "fashion_mnist", cloth_files, cloth_labels[:count])
        _classify(options.http_url, "imagenet", photo_files, None)
        print(f"\n== ocr: {text_file} (drawn: {' | '.join(text.lines)})")
        for line in ocr_client.read_text(text_file.read_bytes(), options.http_url):
            print(f"  {line}")
        _detect(options.http_url, "faces", face_files, out / "faces-annotated.jpg")
        _detect(options.http_url, "mnist_detect", [scene_file], out / "digits-annotated.png")
        client = classify_client.Client(options.http_url, "mnist")
        try:
            client.classify([b"this is not an image"])
        except classify_client.ClientError as exc:
            print(f"\na bad payload is refused per request: {exc}")
        finally:
            client.close()
    print("server stopped")
    _own_model(repository, out, photo_files)
    print(PAGE_HINT.format(photos=out / "photos"))
    return 0


def _own_model(repository: Path, out: Path, photos: list[Path]) -> None:
    """``rawvision add`` on a model file the project has, into its own repository; serve it and ask it."""
    imagenet = read_pipeline(repository, "imagenet")
    own = out / "own_repository"
    shutil.rmtree(own, ignore_errors=True)
    added = add_pipeline(own, "my_classifier", imagenet.model_file, imagenet.spec, labels=imagenet.labels, top_k=3)
    print(f"\n== your own model: rawvision add my_classifier --model {imagenet.model_file} "
          f"--preset efficientnet-lite → {', '.join(added.models)} in {own}")
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=own, http_port=http, grpc_port=grpc, metrics_port=metrics)
    with (out / "own_server.log").open("wb") as log, EmbeddedServer(options, log):
        _classify(options.http_url, "my_classifier", photos, None)
    print("server stopped")
