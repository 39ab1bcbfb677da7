"""The peer: the FastAPI + ONNX Runtime (or PyTorch) service a user would write instead of the ensemble.

Deliberately plain and self-contained (no rawvision imports): full Pillow decode, PIL resize, numpy crop
and normalisation to the ensemble's spec, one intra-op thread, softmax, top-k as JSON; bad bytes → 400.
Run: ``PEER_MODEL=… PEER_SPEC='{…}' PEER_LABELS=… PEER_TOPK=5 \
uvicorn rawvision.loadtest.perf.peer_service:app --workers 2``.
"""

from __future__ import annotations

import functools
import io
import json
import os
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from PIL import Image

app = FastAPI()
SPEC: dict[str, Any] = json.loads(os.environ.get("PEER_SPEC", "{}"))
FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
           "bicubic": Image.Resampling.BICUBIC}


@functools.cache
def model() -> tuple[Any, list[str]]:
    """A one-thread ONNX Runtime session (or TorchScript module) and the labels, loaded once per worker."""
    path, labels = os.environ["PEER_MODEL"], open(os.environ["PEER_LABELS"]).read().split("\n")  # noqa: SIM115
    if path.endswith(".pt"):
        import torch

        torch.set_num_threads(1)
        module = torch.jit.load(path).eval()  # type: ignore[no-untyped-call]

        def run(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return np.asarray(module(torch.from_numpy(x)).numpy())

        return run, [s for s in labels if s.strip()]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return (lambda x: session.run(None, {name: x})[0]), [s for s in labels if s.strip()]


def preprocess(data: bytes) -> np.ndarray:
    """Bytes → one float32 batch of 1, per the spec (short-side or exact resize, centre crop, normalise)."""
    image = Image.open(io.BytesIO(data)).convert(SPEC["color_mode"])
    resize, crop = SPEC["resize"], SPEC.get("crop")
    if isinstance(resize, int):
        short, long = sorted((image.width, image.height))
        size = (resize, int(resize * long / short))
        if image.width > image.height:
            size = size[::-1]
    else:
        size = (resize[1], resize[0])
    pixels = np.asarray(image.resize(size, FILTERS[SPEC["interpolation"]]) if size != image.size else image)
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    if crop:
        top, left = round((pixels.shape[0] - crop[0]) / 2.0), round((pixels.shape[1] - crop[1]) / 2.0)
        pixels = pixels[top:top + crop[0], left:left + crop[1]]
    x = (pixels.astype(np.float32) * np.float32(SPEC["scale"]) - np.float32(SPEC["mean"])) / np.float32(SPEC["std"])
    return np.ascontiguousarray((x.transpose(2, 0, 1) if SPEC["layout"] == "NCHW" else x)[None], dtype=np.float32)


def predict(data: bytes) -> list[dict[str, Any]]:
    """Top-k ``{"label", "score"}`` for one encoded image."""
    run, labels = model()
    logits = run(preprocess(data))[0].astype(np.float32)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    best = np.argsort(-probs, kind="stable")[: int(os.environ.get("PEER_TOPK", "5"))]
    return [{"label": labels[i], "score": float(probs[i])} for i in best]


if "PEER_MODEL" in os.environ:
    model()  # load at start, in each worker


@app.post("/classify")
async def classify(request: Request) -> list[dict[str, Any]]:
    """POST the raw image bytes; get the top-k labels."""
    data = await request.body()
    try:
        return predict(data)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise HTTPException(status_code=400, detail=f"not a usable image: {exc}") from exc
