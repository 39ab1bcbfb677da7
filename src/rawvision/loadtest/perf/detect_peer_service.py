"""The detection peer: the FastAPI + ONNX Runtime face/object service a user would write instead of the ensemble.

Plain: a full Pillow decode (EXIF-rotated, RGB), then the same pure detection core the ensemble uses
(letterbox, normalise, head decoding, class-aware NMS, boxes back to the original pixels), ONNX Runtime on
one intra-op thread, boxes as JSON; bad bytes → 400. Run: ``PEER_MODEL=… PEER_LETTERBOX='{…}' PEER_HEAD=centerface
PEER_OPTIONS='{…}' PEER_LABELS='["face"]' uvicorn rawvision.loadtest.perf.detect_peer_service:app --workers 2``.
"""

from __future__ import annotations

import functools
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from PIL import Image, ImageOps

from rawvision.detection.letterbox import LetterboxSpec, letterbox, normalize_letterboxed
from rawvision.detection.options import DetectOptions
from rawvision.loadtest.perf.detection import Run, detections, onnx_runner

app = FastAPI()


@functools.cache
def settings() -> tuple[Run, LetterboxSpec, str, DetectOptions, list[str]]:
    """The one-thread session, letterbox, head, default options and labels, loaded once per worker."""
    spec = LetterboxSpec.from_parameters(json.loads(os.environ["PEER_LETTERBOX"]), "peer")
    options = DetectOptions(**json.loads(os.environ["PEER_OPTIONS"]))
    run, head = onnx_runner(Path(os.environ["PEER_MODEL"]), threads=1)
    if head != os.environ.get("PEER_HEAD", head):
        raise ValueError(f"the model's head is {head}, PEER_HEAD says {os.environ['PEER_HEAD']}")
    return run, spec, head, options, json.loads(os.environ["PEER_LABELS"])


def decoded(data: bytes) -> np.ndarray:
    """The photo as a user decodes it: Pillow, upright by its EXIF orientation, RGB, HxWx3 uint8."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


def predict(data: bytes) -> list[dict[str, Any]]:
    """Boxes (x1, y1, x2, y2 in the photo's pixels), score, label and landmarks for one encoded image."""
    run, spec, head, options, labels = settings()
    rgb = decoded(data)
    batch = normalize_letterboxed(letterbox(rgb, spec)[None], spec)
    (found,) = detections(run(batch), np.array([rgb.shape[:2]], np.int64), spec, head, options)
    answer = []
    for index in range(len(found.scores)):
        item: dict[str, Any] = {"box": [round(float(v), 2) for v in found.boxes[index]],
                                "score": round(float(found.scores[index]), 4),
                                "label": labels[int(found.class_ids[index])]}
        if found.landmarks is not None:
            item["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in found.landmarks[index]]
        answer.append(item)
    return answer


if "PEER_MODEL" in os.environ:
    settings()  # load at start, in each worker


@app.post("/detect")
async def detect(request: Request) -> list[dict[str, Any]]:
    """POST the raw image bytes; get the detections."""
    data = await request.body()
    try:
        return predict(data)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise HTTPException(status_code=400, detail=f"not a usable image: {exc}") from exc
