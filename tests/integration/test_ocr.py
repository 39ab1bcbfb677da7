"""OCR end to end on the real server: rendered text in, lines out, measured against the truth and rapidocr."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from PIL import Image

from rawvision.client import ocr_client
from rawvision.imaging import encode
from rawvision.ocr.synthetic import TextImage, corpus
from rawvision.server.embedded import ServerOptions
from tests.text_metrics import character_error_rate

pytestmark = pytest.mark.integration
RAWVISION = str(Path(sys.executable).with_name("rawvision"))
IMAGES = 24
MAX_CER = 0.04


@pytest.fixture(scope="module")
def pictures() -> list[TextImage]:
    return corpus(IMAGES, seed=100)


def rapidocr_lines(payloads: list[bytes]) -> list[list[str]]:
    """The same two networks driven by rapidocr-onnxruntime's own pipeline on the same encoded bytes.

    Its angle classifier (a third network that ours does not have) is switched off.
    """
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    results = []
    for payload in payloads:
        found, _ = engine(payload, use_cls=False)
        results.append([line[1] for line in found or []])
    return results


def test_character_error_rate_is_low_and_no_worse_than_rapidocr(server: ServerOptions, pictures) -> None:  # type: ignore[no-untyped-def]
    payloads = [encode(p.pixels, "JPEG" if i % 2 else "PNG", quality=92) for i, p in enumerate(pictures)]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: BLS calls of both share the recogniser
        answers = list(pool.map(lambda data: ocr_client.read_text(data, server.http_url), payloads))
    ours = [[line.text for line in lines] for lines in answers]
    truth = [list(p.lines) for p in pictures]
    ours_cer = character_error_rate(ours, truth)
    rapid_cer = character_error_rate(rapidocr_lines(payloads), truth)
    print(f"\nCER over {IMAGES} pictures, {sum(map(len, truth))} lines: ours {ours_cer:.4f}, rapidocr {rapid_cer:.4f}")
    assert ours_cer <= MAX_CER
    assert ours_cer <= rapid_cer
    for picture, lines in zip(pictures, answers, strict=True):
        height, width = picture.pixels.shape[:2]
        for line in lines:
            xs, ys = zip(*line.box, strict=True)
            assert min(xs) >= 0 and max(xs) <= width and min(ys) >= 0 and max(ys) <= height, line
            assert 0.5 <= line.score <= 1
        tops = [min(y for _, y in line.box) for line in lines]
        assert tops == sorted(tops) or len({round(t / 20) for t in tops}) < len(tops)  # rows top to bottom


def test_a_picture_without_text_gives_empty_outputs(server: ServerOptions) -> None:
    blank = np.full((300, 400, 3), (200, 220, 240), np.uint8)
    client = httpclient.InferenceServerClient(server.http_url, network_timeout=120)
    tensor = httpclient.InferInput("IMAGE", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([encode(blank, "PNG")], dtype=np.object_))
    result = client.infer("ocr", [tensor])
    client.close()
    assert result.as_numpy("TEXTS").shape == (0,)
    assert result.as_numpy("BOXES").shape == (0, 4, 2) and result.as_numpy("SCORES").shape == (0,)


def test_grpc_call_reads_the_same_text(server: ServerOptions, pictures) -> None:  # type: ignore[no-untyped-def]
    lines = ocr_client.read_text(encode(pictures[0].pixels, "PNG"), server.grpc_url, grpc=True)
    assert character_error_rate([[line.text for line in lines]], [list(pictures[0].lines)]) <= MAX_CER


def test_both_recogniser_versions_are_served_and_agree(server: ServerOptions) -> None:
    client = httpclient.InferenceServerClient(server.http_url, network_timeout=120)
    batch = np.random.default_rng(1).uniform(-1, 1, (2, 3, 48, 320)).astype(np.float32)
    outputs = []
    for version in ("1", "2"):
        assert client.is_model_ready("ocr_recognize", version)
        tensor = httpclient.InferInput("recognition_input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        outputs.append(client.infer("ocr_recognize", [tensor], model_version=version).as_numpy("character_probs"))
    client.close()
    assert outputs[0].shape == (2, 40, 6625)  # one step per 8 pixels of width
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-4)


def test_cli_prints_lines_and_annotates(server: ServerOptions, pictures, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    photo, annotated = tmp_path / "receipt.jpg", tmp_path / "out.png"
    photo.write_bytes(encode(pictures[1].pixels, "JPEG", quality=95))
    out = subprocess.run([RAWVISION, "ocr", str(photo), "--url", server.http_url, "--annotate", str(annotated)],
                         capture_output=True, text=True, check=True).stdout
    printed = [line for line in out.splitlines() if line and not line.startswith("wrote")]
    assert len(printed) >= len(pictures[1].lines)
    texts = [line.split("  ", 2)[2] for line in printed]
    assert character_error_rate([texts], [list(pictures[1].lines)]) <= MAX_CER
    drawn = np.asarray(Image.open(annotated).convert("RGB"))
    assert drawn.shape == pictures[1].pixels.shape
    red = (drawn[..., 0] > 200) & (drawn[..., 1] < 40) & (drawn[..., 2] < 40)
    assert red.sum() > 100  # the box outlines
