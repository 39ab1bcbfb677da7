"""The TorchScript ensembles through the real server: Fashion-MNIST by bytes, evaluate vs in process, two engines."""

from __future__ import annotations

import numpy as np
import pytest

from rawvision.client import classify_client
from rawvision.export.datasets import FASHION_MNIST_CLASSES
from rawvision.imaging import encode
from rawvision.loadtest.evaluate import evaluate
from rawvision.server.embedded import ServerOptions

pytestmark = pytest.mark.integration


def top1(url: str, ensemble: str, payloads: list[bytes]) -> list[classify_client.Prediction]:
    client = classify_client.Client(url, ensemble)
    try:
        return [a[0] for start in range(0, len(payloads), 16) for a in client.classify(payloads[start:start + 16])]
    finally:
        client.close()


def test_held_out_clothes_sent_as_bytes_are_classified_with_names(server: ServerOptions, fashion_split) -> None:  # type: ignore[no-untyped-def]
    images, labels = fashion_split.test_images[-200:], fashion_split.test_labels[-200:]
    payloads = [encode(img, "JPEG" if i % 2 else "PNG") for i, img in enumerate(images)]
    answers = top1(server.http_url, "fashion_mnist", payloads)
    predicted = np.array([a.class_id for a in answers])
    assert (predicted == labels).mean() >= 0.85  # 200 images: 89% on all 10,000, a margin for sampling and JPEG
    assert all(a.label == FASHION_MNIST_CLASSES[a.class_id] for a in answers)


def test_evaluate_through_the_server_equals_in_process(server: ServerOptions, repository, fashion_split) -> None:  # type: ignore[no-untyped-def]
    images, labels = fashion_split.test_images[:1000], fashion_split.test_labels[:1000]
    result = evaluate(server.http_url, repository, "fashion_mnist", images, labels, "PNG", batch=8, concurrency=8)
    assert result.json_way is not None
    assert len(result.server.predicted) == len(result.local.predicted) == 1000
    assert result.disagreements() == 0, "server and in-process predictions differ"
    assert result.server.correct(labels) == result.local.correct(labels) == result.json_way.correct(labels)
    assert result.server.correct(labels) >= 890
    assert "speed ratio" in result.report()


def test_onnx_and_torchscript_mnist_ensembles_answer_the_same_digits(server: ServerOptions, mnist_split) -> None:  # type: ignore[no-untyped-def]
    # All 1,000 held-out digits, the set on which both exports refuse a model below 97%; PNG is lossless.
    images, labels = mnist_split.test_images, mnist_split.test_labels
    payloads = [encode(img, "PNG") for img in images]
    for ensemble in ("mnist", "mnist_torchscript_ensemble"):
        predicted = np.array([a.class_id for a in top1(server.http_url, ensemble, payloads)])
        accuracy = (predicted == labels).mean()
        assert accuracy >= 0.97, f"{ensemble}: accuracy {accuracy:.3f} on {len(labels)} held-out digits"


@pytest.mark.parametrize("ensemble", ["mnist", "mnist_torchscript_ensemble"])  # ONNX and TorchScript cores
def test_evaluate_command_prints_the_figures(server: ServerOptions, repository, capsys, ensemble: str) -> None:  # type: ignore[no-untyped-def]
    from rawvision.cli.main import main

    argv = ["evaluate", "--model", ensemble, "--url", server.http_url, "--repository",
            str(repository), "--count", "64", "--batch", "4", "--concurrency", "4", "--format", "JPEG"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "64 test images sent as JPEG" in out and "speed ratio" in out and "p99" in out
    assert "0 of 64 predictions differ" in out
    assert "64/64 images" in err
