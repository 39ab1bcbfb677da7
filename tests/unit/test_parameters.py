"""Typed step parameters: conversion by field type, unknown keys refused at initialize."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rawvision import presets
from rawvision.backend.step_parameters import (
    OcrLinesParameters,
    OnnxRunnerParameters,
    PostprocessParameters,
    decoding_parameters,
    parse_parameters,
)
from rawvision.ocr.detect import DetectSpec
from rawvision.repository import model_config, model_names
from rawvision.transforms import PreprocessSpec
from tests.backend import load_model

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


def test_values_are_converted_by_field_type() -> None:
    post = parse_parameters(PostprocessParameters, {"top_k": "3", "apply_softmax": "False"}, "m")
    assert (post.top_k, post.apply_softmax, post.label_filename) == (3, False, "labels.txt")
    runner = parse_parameters(OnnxRunnerParameters, {"cpu_mem_arena": "false", "intra_op_threads": "2"}, "m")
    assert (runner.cpu_mem_arena, runner.intra_op_threads, runner.model_filename) == (False, 2, "model.onnx")


def test_preprocess_parameters_round_trip_every_preset() -> None:
    for spec in presets.PRESETS.values():
        assert decoding_parameters(PreprocessSpec, spec.to_parameters(), "m").spec == spec


def test_a_step_reads_the_keys_of_each_of_its_parts_and_no_others() -> None:
    params = {**presets.MNIST.to_parameters(), "max_bytes": "1000", "execute_timeout_s": "5"}
    parsed = decoding_parameters(PreprocessSpec, params, "m")
    assert (parsed.spec, parsed.limits.max_bytes) == (presets.MNIST, 1000)
    with pytest.raises(ValueError, match=r"m: unknown config parameter\(s\) \['thresh'\]"):
        decoding_parameters(PreprocessSpec, {**params, "thresh": "0.3"}, "m")
    ocr = decoding_parameters(DetectSpec, {"thresh": "0.2", "formats": "png"}, "ocr_preprocess")
    assert (ocr.spec.thresh, ocr.limits.formats) == (0.2, ("PNG",))
    with pytest.raises(ValueError, match=r"unknown config parameter\(s\) \['max_bytes'\]"):
        OcrLinesParameters.parse({"max_bytes": "1000"}, "ocr_lines")


def test_unknown_key_is_refused_naming_model_and_key() -> None:
    with pytest.raises(ValueError, match=r"fruit_postprocess: unknown config parameter\(s\) \['top_kk'\]"):
        parse_parameters(PostprocessParameters, {"top_kk": "5"}, "fruit_postprocess")


@pytest.mark.parametrize(("params", "message"), [
    ({"top_k": "five"}, r"m: config parameter top_k='five'"),
    ({"apply_softmax": "maybe"}, "expected true or false"),
])
def test_bad_values_name_the_key(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_parameters(PostprocessParameters, params, "m")


def test_missing_required_and_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match=r"m: config parameter\(s\) \['resize'"):
        decoding_parameters(PreprocessSpec, {}, "m")
    params = {**presets.MNIST.to_parameters(), "color_mode": "CMYK"}
    with pytest.raises(ValueError, match="color_mode='CMYK'"):
        decoding_parameters(PreprocessSpec, params, "m")
    with pytest.raises(ValueError, match="recognition_batch_size"):
        OcrLinesParameters.parse({"recognition_batch_size": "8.5"}, "ocr_lines")


def copy_with_parameter(folder: Path, model: str, key: str, value: str) -> None:
    """Copy ``model`` into ``folder`` with one more config parameter in both of its configs."""
    shutil.copytree(REPOSITORY / model, folder / model)
    for config_name in ("config.pbtxt", "configs/embedded.pbtxt"):
        path = folder / model / config_name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            path.write_text(text + f'parameters {{ key: "{key}" value {{ string_value: "{value}" }} }}\n',
                            encoding="utf-8")


@pytest.mark.parametrize("model", ["mnist_preprocess", "mnist_postprocess", "mnist_onnx", "mnist_torchscript"])
def test_adapter_refuses_an_unknown_key_at_initialize(model: str, tmp_path: Path) -> None:
    copy_with_parameter(tmp_path, model, "top_kk", "5")
    with pytest.raises(ValueError, match=rf"{model}: unknown config parameter\(s\) \['top_kk'\]"):
        load_model(tmp_path, model)


PYTHON_STEPS = [m for m in model_names(REPOSITORY) if model_config(REPOSITORY, m, "embedded").backend == "python"]


@pytest.mark.parametrize("model", PYTHON_STEPS)
def test_every_committed_python_step_parses(model: str) -> None:
    """Each shipped config's parameters are all known to its step (the adapters would refuse them)."""
    assert load_model(REPOSITORY, model) is not None


@pytest.mark.parametrize("model", ["mnist_preprocess", "mnist_postprocess", "mnist_onnx"])
def test_the_watchdogs_restart_count_is_not_a_step_parameter(model: str, tmp_path: Path) -> None:
    """The stub watchdog reloads a model with ``restarts`` counted up; the step must still load."""
    copy_with_parameter(tmp_path, model, "restarts", "3")
    assert load_model(tmp_path, model) is not None
