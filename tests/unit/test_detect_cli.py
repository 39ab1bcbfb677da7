"""``rawvision detect`` without a server: its arguments, annotated copies and their names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rawvision.cli.detect import annotated_names, core_detections, write_annotated
from rawvision.cli.main import build_parser
from rawvision.client.detect_client import Detection, options_from
from rawvision.imaging import encode

FACE = Detection("face", 0.91, 0, (20.0, 10.0, 60.0, 70.0),
                 ((30.0, 30.0), (50.0, 30.0), (40.0, 40.0), (32.0, 55.0), (48.0, 55.0)))


def test_the_options_become_the_request_options() -> None:
    args = build_parser().parse_args(["detect", "a.jpg", "b.png", "--model", "mnist_detect", "--score-threshold",
                                      "0.4", "--max-detections", "3", "--out", "annotated", "--json"])
    assert (args.images, args.model, args.out, args.json) == ([Path("a.jpg"), Path("b.png")], "mnist_detect",
                                                              Path("annotated"), True)
    assert options_from(args).parameters() == {"score_threshold": 0.4, "max_detections": 3}
    defaults = build_parser().parse_args(["detect", "a.jpg"])
    assert (defaults.model, defaults.out, options_from(defaults).parameters()) == ("faces", None, {})


def test_core_detections_carry_boxes_landmarks_and_label_names_by_class_id() -> None:
    digit = Detection("7", 0.8, 7, (1.0, 2.0, 3.0, 4.0))
    core, names = core_detections([digit, Detection("2", 0.6, 2, (5.0, 6.0, 7.0, 8.0))])
    assert len(core) == 2 and core.landmarks is None and names[7] == "7" and names[2] == "2"
    assert core.boxes.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    faces, _ = core_detections([FACE])
    assert faces.landmarks is not None and faces.landmarks.shape == (1, 5, 2)
    empty, none = core_detections([])
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and none == []


def test_annotated_copies_differ_inside_the_box_and_nowhere_far_from_it(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    pixels = np.full((120, 160, 3), 90, np.uint8)
    photo.write_bytes(encode(pixels, "PNG"))
    out = tmp_path / "annotated.png"
    write_annotated(photo, [FACE], out)
    drawn = np.asarray(Image.open(out).convert("RGB"))
    changed = (drawn != pixels).any(axis=2)
    assert drawn.shape == pixels.shape
    assert changed[10:71, 20:61].any()  # the outline, label and landmarks
    assert not changed[90:, 100:].any()


def test_annotated_copies_of_an_image_without_detections_are_the_image(tmp_path: Path) -> None:
    photo = tmp_path / "empty.png"
    pixels = np.full((40, 50, 3), 30, np.uint8)
    photo.write_bytes(encode(pixels, "PNG"))
    write_annotated(photo, [], tmp_path / "out.png")
    assert (np.asarray(Image.open(tmp_path / "out.png").convert("RGB")) == pixels).all()


def test_annotated_names_keep_the_file_name_and_number_clashes() -> None:
    paths = [Path("a/x.jpg"), Path("b/x.jpg"), Path("c/y.png"), Path("d/x.jpg")]
    assert annotated_names(paths) == ["x.jpg", "x-2.jpg", "y.png", "x-3.jpg"]
