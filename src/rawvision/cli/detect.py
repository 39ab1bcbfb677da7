"""``rawvision detect``: boxes in image files from a running detection pipeline, printed or drawn on copies."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from rawvision.client import detect_client
from rawvision.client.detect_client import Detection
from rawvision.detection.annotate import draw
from rawvision.detection.outputs import Detections


def core_detections(detections: Sequence[Detection]) -> tuple[Detections, list[str]]:
    """The client's detections as the core's arrays, and label names indexed by class id (for drawing)."""
    names = [""] * (max((d.class_id for d in detections), default=-1) + 1)
    for detection in detections:
        names[detection.class_id] = detection.label
    landmarks = (np.array([d.landmarks for d in detections], np.float32).reshape(-1, 5, 2)
                 if detections and all(d.landmarks for d in detections) else None)
    return Detections(boxes=np.array([d.box for d in detections], np.float32).reshape(-1, 4),
                      scores=np.array([d.score for d in detections], np.float32),
                      class_ids=np.array([d.class_id for d in detections], np.int64),
                      landmarks=landmarks), names


def annotated_names(paths: Sequence[Path]) -> list[str]:
    """A file name per input for the annotated copies: its own name, numbered when two inputs share one."""
    taken: set[str] = set()
    names = []
    for path in paths:
        name, number = path.name, 1
        while name in taken:
            number += 1
            name = f"{path.stem}-{number}{path.suffix}"
        taken.add(name)
        names.append(name)
    return names


def write_annotated(path: Path, detections: Sequence[Detection], out: Path) -> None:
    """Draw ``detections`` on the upright (EXIF-rotated) picture at ``path`` and save it as ``out``."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    core, names = core_detections(detections)
    picture = draw(upright, core, names)
    if out.suffix.lower() in (".jpg", ".jpeg"):
        picture.save(out, quality=90)
    else:
        picture.save(out)


def run_detect(args: argparse.Namespace) -> int:
    """Send the files, print one line per detection (or JSON), and with ``--out`` write annotated copies."""
    try:
        client = detect_client.Client(args.url, args.model)
        try:
            answers = client.detect_files(args.images, detect_client.options_from(args))
        finally:
            client.close()
    except (detect_client.DetectError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    format_answers = detect_client.format_json if args.json else detect_client.format_lines
    print(format_answers(args.images, answers))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for path, name, detections in zip(args.images, annotated_names(args.images), answers, strict=True):
            write_annotated(path, detections, args.out / name)
        print(f"wrote {len(answers)} annotated copies to {args.out}", file=sys.stderr if args.json else sys.stdout)
    return 0


def add_detect_parser(commands: Any) -> None:
    """Register ``rawvision detect`` on the top-level subcommands."""
    detect = commands.add_parser("detect", help="find objects (faces, digits, your own YOLO) in image files with "
                                 "a running server; print the boxes, or draw them with --out")
    detect.add_argument("images", nargs="+", type=Path, metavar="FILES")
    detect.add_argument("--url", default="localhost:8000", help="Triton HTTP endpoint (host:port)")
    detect.add_argument("--model", default="faces", help="detection ensemble name")
    detect.add_argument("--out", type=Path, metavar="DIR", help="write a copy of each file with its boxes, labels, "
                        "scores (and landmarks) drawn")
    detect_client.add_options(detect)
    detect.set_defaults(run=run_detect)
