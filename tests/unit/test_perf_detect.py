"""The side-by-side bench's detection parts: repository reading, the in-process answer, summaries, pinning, report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rawvision.detection.letterbox import LetterboxSpec, letterbox, load_letterboxed
from rawvision.detection.options import DetectOptions
from rawvision.loadtest.perf import detection, pinning
from rawvision.loadtest.perf.hey import hey_command, triton_body
from rawvision.loadtest.perf.peers import merged, result_from_json
from rawvision.loadtest.perf.peers_report import markdown, summary_table
from rawvision.loadtest.perf.side_by_side import ENSEMBLE, LIMIT, PEER, Breakdown, PeersResult, Row, Target
from rawvision.loadtest.perf.triton_stats import StepStats

SPEC = LetterboxSpec(size=(64, 64), scale=1.0)
OPTIONS = DetectOptions(score_threshold=0.5, iou_threshold=0.5, max_detections=10)


def _yolov8(boxes: list[tuple[float, float, float, float, int, float]], classes: int = 2) -> np.ndarray:
    """One image's YOLOv8 output [1, 4 + classes, N] from (cx, cy, w, h, class, score) rows."""
    out = np.zeros((1, 4 + classes, max(len(boxes), 1) + 3), np.float32)
    for anchor, (cx, cy, w, h, cls, score) in enumerate(boxes):
        out[0, :4, anchor] = (cx, cy, w, h)
        out[0, 4 + cls, anchor] = score
    return out


def test_detections_decode_select_and_map_back_to_the_photo() -> None:
    # A 128x32 photo letterboxed into 64x64: scale 0.5, 24 rows of padding on top.
    output = _yolov8([(32, 32, 16, 8, 0, 0.9), (33, 32, 16, 8, 0, 0.8), (32, 32, 16, 8, 1, 0.7),
                      (10, 10, 4, 4, 1, 0.4)])
    (found,) = detection.detections([output], np.array([[32, 128]]), SPEC, "yolov8", OPTIONS)
    assert found.class_ids.tolist() == [0, 1]  # the overlapping class-0 box went to NMS; 0.4 is below 0.5
    np.testing.assert_allclose(found.boxes[0], [48, 8, 80, 24], atol=1e-4)
    assert found.scores.tolist() == pytest.approx([0.9, 0.7])
    assert found.landmarks is None


def test_detections_refuse_an_unknown_head() -> None:
    with pytest.raises(ValueError, match="unknown head 'ssd'"):
        detection.detections([_yolov8([])], np.array([[64, 64]]), SPEC, "ssd", OPTIONS)


def test_summaries_agree_across_the_three_sides() -> None:
    assert detection.label_summary([]) == "0"
    assert detection.label_summary(["face", "face"]) == "2 face"
    assert detection.label_summary(["7", "0", "7"]) == "1 0, 2 7"
    # The ensemble's answer: padding rows after COUNT do not count.
    answer = {"COUNT": np.array([[2]], np.int32), "LABELS": np.array([[b"face", b"face", b""]], dtype=object)}
    assert detection.ensemble_summary(answer) == "2 face"
    assert detection.ensemble_summary({"COUNT": np.array([[0]]), "LABELS": np.array([[b""]], dtype=object)}) == "0"
    assert detection.peer_summary([{"label": "face", "box": [0, 0, 1, 1]}]) == "1 face"


def test_targets_read_each_sides_answer() -> None:
    detect = Target("faces", "detect", {}, ("BOXES", "COUNT", "LABELS"))
    assert (detect.peer_app, detect.peer_path) == ("rawvision.loadtest.perf.detect_peer_service:app", "/detect")
    assert detect.peer_answer(json.dumps([{"label": "face"}]).encode()) == "1 face"
    assert detect.ensemble_answer({"COUNT": np.array([1]), "LABELS": np.array([b"face"], dtype=object)}) == "1 face"
    classify = Target("mnist", "classify", {}, ("LABELS",))
    assert (classify.peer_app, classify.peer_path) == ("rawvision.loadtest.perf.peer_service:app", "/classify")
    assert classify.peer_answer(json.dumps([{"label": "7", "score": 0.9}]).encode()) == "7"
    assert classify.ensemble_answer({"LABELS": np.array([[b"7", b"1"]], dtype=object)}) == "7"


def _faces_like(repository: Path) -> Path:
    """A CenterFace-shaped detection pipeline written by the pipeline writer, with a placeholder model file."""
    from rawvision.imaging import DecodeLimits
    from rawvision.pipelines.description import CoreSpec, DetectorDescription, StepNames, Tensor
    from rawvision.pipelines.writer import pipeline_files, write_files

    core = CoreSpec("onnx", Tensor("input.1", (3, 64, 64)), Tensor("537", (1, 16, 16)),
                    (Tensor("538", (2, 16, 16)), Tensor("539", (2, 16, 16)), Tensor("540", (10, 16, 16))))
    description = DetectorDescription("faces", SPEC, core, StepNames.for_pipeline("faces", "onnx"), "centerface",
                                      DecodeLimits(max_pixels=1_000_000), ("face",), DetectOptions(0.5, 0.3, 100))
    write_files(repository, pipeline_files(description))
    (repository / "faces_onnx" / "1").mkdir(parents=True)
    (repository / "faces_onnx" / "1" / "model.onnx").write_bytes(b"onnx")
    return repository


def test_a_detection_pipeline_is_read_from_its_configs(tmp_path: Path) -> None:
    repository = _faces_like(tmp_path)
    assert detection.is_detection(repository, "faces")
    found = detection.read_detect_pipeline(repository, "faces")
    assert (found.spec, found.head, found.labels) == (SPEC, "centerface", ("face",))
    assert found.limits.max_pixels == 1_000_000
    assert found.options == DetectOptions(0.5, 0.3, 100)
    assert found.model_file == repository / "faces_onnx" / "1" / "model.onnx"
    assert set(found.outputs) == {*detection.DETECTION_OUTPUTS, "LANDMARKS"}
    settings = found.peer_settings()
    assert LetterboxSpec.from_parameters(json.loads(settings["PEER_LETTERBOX"])) == SPEC
    assert json.loads(settings["PEER_OPTIONS"]) == {"score_threshold": 0.5, "iou_threshold": 0.3,
                                                    "max_detections": 100}


def test_a_classifier_is_not_read_as_a_detector() -> None:
    repository = Path(__file__).resolve().parents[2] / "model_repository"
    assert not detection.is_detection(repository, "mnist")
    with pytest.raises(ValueError, match="not a three-step detection ensemble"):
        detection.read_detect_pipeline(repository, "mnist")


def test_the_peers_decode_and_letterbox_match_the_ensembles() -> None:
    from rawvision.loadtest.perf import detect_peer_service
    from rawvision.loadtest.perf.images import detection_sets

    mixed, typical = detection_sets()
    assert typical.labels[0].startswith("astronaut")
    assert {label.split()[0] for label in mixed.labels} == {"astronaut", "camera", "coffee", "chelsea", "rocket"}
    spec = LetterboxSpec(size=(160, 160), scale=1.0)
    for data in [*mixed.images[:2], typical.images[0]]:
        ours, size = load_letterboxed(data, spec)
        theirs = detect_peer_service.decoded(data)
        assert size == theirs.shape[:2]
        np.testing.assert_array_equal(ours, letterbox(theirs, spec))


def test_hey_bodies_ask_for_every_detection_output_as_json() -> None:
    body, length = triton_body(b"jpeg", outputs=("BOXES", "COUNT"))
    header = json.loads(body[:length])
    assert [o["name"] for o in header["outputs"]] == ["BOXES", "COUNT"]
    assert all(o["parameters"] == {"binary_data": False} for o in header["outputs"])


def test_pinning_puts_hey_on_the_last_core_and_services_on_the_rest(tmp_path: Path) -> None:
    pin = pinning.split((1, 0))
    assert (pin.service, pin.load, pin.pinned) == ((0,), (1,), True)
    assert pinning.split((0, 1, 2, 3)).service == (0, 1, 2)
    assert pinning.split((0,)) == pinning.UNPINNED
    assert pinning.UNPINNED.service_cores(2) == 2 and pin.service_cores(2) == 1
    with pytest.raises(ValueError, match="overlap"):
        pinning.Pinning((0, 1), (1,))
    command = hey_command("http://x/detect", tmp_path / "b", 4, 2, "application/octet-stream",
                          prefix=pinning.load_prefix(pin))
    assert command[1:3] == ["-c", "1"] and command[0].endswith("taskset") and command[3].endswith("hey")
    assert pinning.load_prefix(pinning.UNPINNED) == []


def test_services_started_in_the_block_inherit_the_service_cores() -> None:
    cores = pinning.available_cores()
    if len(cores) < 2:
        pytest.skip("one core: nothing to pin")
    pin = pinning.split(cores)
    with pinning.service_cores(pin):
        assert os.sched_getaffinity(0) == set(pin.service)
    assert os.sched_getaffinity(0) == set(cores)


def _row(service: str, connections: int, rate: float, p50: float, ensemble: str = "faces") -> Row:
    return Row(ensemble, "mixed", service, connections, rate, p50, 2 * p50, 96, 0, (("tritonserver", 5.0),))


FACES = PeersResult("faces", (("mixed", "20 photos"),),
                    (_row(LIMIT, 0, 40.0, 20.0), _row(PEER, 1, 20.0, 45.0), _row(PEER, 4, 25.0, 150.0),
                     _row(ENSEMBLE, 1, 24.0, 40.0), _row(ENSEMBLE, 4, 30.0, 130.0), _row(ENSEMBLE, 16, 32.0, 400.0)),
                    (Breakdown("faces", "mixed", 4, (StepStats("faces_onnx", 96, 90, 5.0, 1.0, 20000.0, 2.0),)),),
                    20, (("astronaut 320x240 PNG", "1 face"), ("coffee 320x240 PNG", "0")), "today")


def test_summary_rows_give_both_sides_and_both_ratios() -> None:
    lines = summary_table([FACES])
    assert lines[0].startswith("| ensemble | images | connections | ensemble img/s | ensemble p50 ms | peer img/s")
    assert lines[2] == "| faces | mixed | 1 | 24.0 | 40.0 | 20.0 | 45.0 | 40.0 | 20.0 | 1.20 | 0.60 |"
    assert lines[3] == "| faces | mixed | 4 | 30.0 | 130.0 | 25.0 | 150.0 | 40.0 | 20.0 | 1.20 | 0.75 |"
    assert lines[4] == "| faces | mixed | 16 | 32.0 | 400.0 | - | - | 40.0 | 20.0 | - | 0.80 |"
    text = markdown([FACES], "# Title", "", "perf-peers.png")
    assert "## Summary" in text and lines[2] in text
    assert "astronaut 320x240 PNG: 1 face; coffee 320x240 PNG: 0" in text


def test_results_survive_json_and_a_subset_run_keeps_the_others() -> None:
    from dataclasses import asdict, replace

    again = result_from_json(json.loads(json.dumps(asdict(FACES))))
    assert again == FACES
    imagenet = replace(FACES, ensemble="imagenet", answers=())
    newer = replace(FACES, measured="later")
    assert [r.measured for r in merged([imagenet, FACES], [newer])] == ["today", "later"]
    assert [r.ensemble for r in merged([imagenet], [newer])] == ["imagenet", "faces"]
