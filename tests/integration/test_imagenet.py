"""The imagenet ensemble through the real server: real photos in, ImageNet classes out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from PIL import Image

from rawvision.classify import load_labels, softmax
from rawvision.client import classify_client
from rawvision.imaging import encode
from rawvision.repository import decode_limits, preprocess_spec
from rawvision.server.embedded import ServerOptions
from rawvision.testing.photos import (
    cmyk_jpeg,
    exif_rotated_jpeg,
    grey_png,
    jpeg,
    palette_png,
    photo,
    rgba_png,
    upscaled,
)
from rawvision.transforms import preprocess
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.integration
CATS = {"tabby", "tiger cat", "Egyptian cat"}
LABELS = load_labels(REPOSITORY / "imagenet_postprocess" / "labels.txt")


@pytest.fixture(scope="module")
def client(server: ServerOptions) -> Iterator[classify_client.Client]:
    client = classify_client.Client(server.http_url, "imagenet")
    yield client
    client.close()


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(REPOSITORY / "imagenet_onnx" / "1" / "model.onnx"),
                                providers=["CPUExecutionProvider"])


def in_process(session: ort.InferenceSession, payloads: list[bytes]) -> np.ndarray:
    """Probabilities from the same spec and limits as the server, run in this process."""
    spec = preprocess_spec(REPOSITORY, "imagenet_preprocess")
    limits = decode_limits(REPOSITORY, "imagenet_preprocess")
    (logits,) = session.run(["logits"], {"preprocessed_image": preprocess(payloads, spec, limits)})
    return softmax(logits)


def served(client: classify_client.Client, payloads: list[bytes]) -> list[list[classify_client.Prediction]]:
    answers = client.classify(payloads)
    assert len(answers) == len(payloads)
    return answers


def test_scikit_image_photos_are_recognised(client: classify_client.Client) -> None:
    chelsea, coffee = served(client, [jpeg(photo("chelsea")), jpeg(photo("coffee"))])
    assert CATS & {p.label for p in chelsea[:3]}, chelsea
    assert coffee[0].label == "espresso" and coffee[0].class_id == 967, coffee
    assert len(chelsea) == 5 and all(LABELS[p.class_id] == p.label for p in chelsea + coffee)


def test_served_probabilities_match_onnx_runtime_in_process(client, session) -> None:  # type: ignore[no-untyped-def]
    payloads = [jpeg(photo(name)) for name in ("chelsea", "coffee", "astronaut")]
    payloads += [upscaled("coffee"), encode(photo("astronaut")[::2, ::2], "PNG")]
    payloads += [jpeg(photo("chelsea")[40:, 60:]), jpeg(photo("coffee")[:, ::-1]), jpeg(photo("astronaut")[100:])]
    assert len(payloads) == 8
    expected = in_process(session, payloads)
    for answer, probs in zip(served(client, payloads), expected, strict=True):
        ids = [p.class_id for p in answer]
        assert ids == list(np.argsort(-probs, kind="stable")[:5])
        np.testing.assert_allclose([p.score for p in answer], probs[ids], atol=1e-3)


def test_a_12_megapixel_photo_gives_the_answer_of_the_small_one(client: classify_client.Client) -> None:
    small, large = served(client, [jpeg(photo("coffee")), upscaled("coffee")])
    assert large[0].label == small[0].label == "espresso"
    assert abs(large[0].score - small[0].score) < 0.05


def top1_and_scores(answer: list[classify_client.Prediction]) -> tuple[int, dict[int, float]]:
    return answer[0].class_id, {p.class_id: p.score for p in answer}


@pytest.mark.parametrize("kind", ["grey", "rgba", "palette"])
def test_colour_modes_are_classified_as_a_viewer_shows_them(client, kind: str) -> None:  # type: ignore[no-untyped-def]
    pixels = photo("coffee")
    payload, shown = {"grey": grey_png, "rgba": rgba_png, "palette": palette_png}[kind](pixels)
    ours, viewer = served(client, [payload, encode(shown, "PNG")])
    assert [p.class_id for p in ours] == [p.class_id for p in viewer]
    np.testing.assert_allclose([p.score for p in ours], [p.score for p in viewer], atol=2e-3)


def test_cmyk_jpeg_gives_the_rgb_answer(client: classify_client.Client) -> None:
    rgb, cmyk = served(client, [jpeg(photo("coffee"), quality=95), cmyk_jpeg(photo("coffee"))])
    assert cmyk[0].label == rgb[0].label == "espresso"
    # chelsea's top two cats are within 1% of each other, so compare the scores rather than the order
    for name in ("coffee", "chelsea"):
        rgb, cmyk = served(client, [jpeg(photo(name), quality=95), cmyk_jpeg(photo(name))])
        cmyk_scores = top1_and_scores(cmyk)[1]
        for prediction in rgb[:3]:
            assert abs(cmyk_scores.get(prediction.class_id, 0.0) - prediction.score) < 0.05, (name, rgb, cmyk)


def test_exif_rotated_jpeg_gives_the_upright_answer(client: classify_client.Client) -> None:
    pixels = photo("chelsea")
    stored_turned = Image.open(__import__("io").BytesIO(exif_rotated_jpeg(pixels)))
    assert stored_turned.size == (pixels.shape[0], pixels.shape[1])  # stored on its side
    upright, rotated, unrotated = served(client, [
        jpeg(pixels, quality=95), exif_rotated_jpeg(pixels), jpeg(np.ascontiguousarray(np.rot90(pixels, -1)), 95)])
    top, scores = top1_and_scores(upright)
    rotated_top, rotated_scores = top1_and_scores(rotated)
    assert rotated_top == top
    assert abs(rotated_scores[top] - scores[top]) < 0.05
    # the same pixels without the EXIF tag are a sideways cat: the tag is what makes the answers agree
    assert abs(top1_and_scores(unrotated)[1].get(top, 0.0) - scores[top]) > 0.05


def test_core_model_answers_the_classification_extension(server: ServerOptions, session) -> None:  # type: ignore[no-untyped-def]
    spec = preprocess_spec(REPOSITORY, "imagenet_preprocess")
    batch = preprocess([jpeg(photo("coffee")), jpeg(photo("chelsea"))], spec)
    (logits,) = session.run(["logits"], {"preprocessed_image": batch})
    tensor = httpclient.InferInput("preprocessed_image", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        result = client.infer("imagenet_onnx", [tensor],
                              outputs=[httpclient.InferRequestedOutput("logits", class_count=3)])
    finally:
        client.close()
    classes = result.as_numpy("logits")
    assert classes.shape == (2, 3)
    for row, expected in zip(classes, logits, strict=True):
        parsed = [entry.decode().split(":", 2) for entry in row]  # "<value>:<index>:<label>"
        ids = [int(index) for _, index, _ in parsed]
        assert ids == list(np.argsort(-expected)[:3])
        assert [label for _, _, label in parsed] == [LABELS[i] for i in ids]
        np.testing.assert_allclose([float(value) for value, _, _ in parsed], expected[ids], atol=1e-3)
    assert parsed[0][2] in CATS and classes[0][0].decode().endswith(":967:espresso")


def test_classify_prints_the_top_k_format_and_plots(server: ServerOptions, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    files = []
    for name in ("coffee", "chelsea"):
        files.append(tmp_path / f"{name}.jpg")
        files[-1].write_bytes(jpeg(photo(name)))
    plot = tmp_path / "top5.png"
    code = classify_client.main([*map(str, files), "--url", server.http_url, "--model", "imagenet",
                                  "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == str(files[0])
    assert re.fullmatch(r"  \d\.\d{6} \(967\) = espresso", lines[1]), lines[1]
    assert all(re.fullmatch(r"  \d\.\d{6} \(\d+\) = .+", line) for line in lines[1:6])
    with Image.open(plot) as chart:
        assert chart.format == "PNG" and chart.width > 300 and chart.height > 300
