"""Warm-up samples, their file format, the queue policy, and the committed configs they generate."""

from __future__ import annotations

import io
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image
from tritonclient.grpc import model_config_pb2

from rawvision.pipelines.queue_policy import DEFAULT_POLICY, QueuePolicy, apply_queue_policy
from rawvision.pipelines.warm_repository import config_files, is_entry_step, warm_repository
from rawvision.pipelines.warmup_samples import (
    WARMUP_DIR,
    add_data_warmup,
    add_file_warmup,
    serialize_bytes,
    typical_batch_sizes,
    warmup_images,
    write_warmup_files,
)
from rawvision.repository import model_config, model_names, read_config
from rawvision.transforms import PreprocessSpec

MNIST = PreprocessSpec(resize=(28, 28), color_mode="L", mean=(0.5,), std=(0.5,))
PHOTO = PreprocessSpec(resize=256, crop=(224, 224), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def test_serialized_bytes_are_length_prefixed_little_endian() -> None:
    assert serialize_bytes([b"ab", b""]) == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0)


@pytest.mark.parametrize(("spec", "formats"), [(MNIST, {"JPEG", "PNG"}), (PHOTO, {"JPEG", "PNG"})])
def test_sample_images_decode_in_the_expected_formats(spec: PreprocessSpec, formats: set[str]) -> None:
    images = warmup_images(spec)
    assert {Image.open(io.BytesIO(data)).format for data in images.values()} == formats
    if spec is MNIST:
        assert all(Image.open(io.BytesIO(d)).size == (28, 28) for d in images.values())


def test_warmup_files_hold_one_element(tmp_path: Path) -> None:
    (path,) = write_warmup_files(tmp_path, {"x": b"\x89PNG"})
    assert path == tmp_path / WARMUP_DIR / "x" and path.read_bytes() == b"\x04\x00\x00\x00\x89PNG"


def _config(text: str) -> model_config_pb2.ModelConfig:
    from google.protobuf import text_format

    return text_format.Parse(text, model_config_pb2.ModelConfig())


STEP = 'name: "s" max_batch_size: 16 input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, -1 ] } ] ' \
       'dynamic_batching { preferred_batch_size: [ 4 ] }'


def test_batch_sizes_are_one_preferred_and_max() -> None:
    assert typical_batch_sizes(_config(STEP)) == (1, 4, 16)
    assert typical_batch_sizes(_config('name: "n" max_batch_size: 0')) == (1,)


def test_data_warmup_needs_concrete_dims_and_a_valid_batch() -> None:
    config = _config(STEP)
    with pytest.raises(ValueError, match="variable dims"):
        add_data_warmup(config, [1])
    with pytest.raises(ValueError, match="outside"):
        add_data_warmup(config, [32], dims={"x": [3, 8]})
    add_data_warmup(config, [1, 16], "zero", dims={"x": [3, 8]})
    assert [(s.batch_size, list(s.inputs["x"].dims), s.inputs["x"].zero_data) for s in config.model_warmup] == \
        [(1, [3, 8], True), (16, [3, 8], True)]


def test_file_warmup_needs_one_input() -> None:
    config = _config(STEP + ' input [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]')
    with pytest.raises(ValueError, match="exactly one input"):
        add_file_warmup(config, ["f"], [1])


def test_queue_policy_rejects_and_needs_a_batcher() -> None:
    config = _config(STEP)
    apply_queue_policy(config, QueuePolicy(max_queue_size=2, timeout_microseconds=5))
    queue = config.dynamic_batching.default_queue_policy
    assert (queue.timeout_action, queue.max_queue_size, queue.default_timeout_microseconds) == \
        (model_config_pb2.ModelQueuePolicy.REJECT, 2, 5)
    with pytest.raises(ValueError, match="no dynamic batcher"):
        apply_queue_policy(_config('name: "n" max_batch_size: 0'))
    with pytest.raises(ValueError, match="at least 1"):
        QueuePolicy(max_queue_size=0)


def test_committed_configs_are_what_warm_repository_writes(repository: Path, tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(repository, copy, ignore=shutil.ignore_patterns("*.onnx", "*.pt", "*.pth"))
    assert warm_repository(copy, write_samples=False) == []


def test_every_step_is_warmed_and_every_batching_step_bounded(repository: Path) -> None:
    for model in model_names(repository):
        for path in config_files(repository / model):
            config = read_config(path)
            if config.platform == "ensemble":
                assert not config.model_warmup
                continue
            assert config.model_warmup, path
            for sample in config.model_warmup:
                for entry in sample.inputs.values():
                    if entry.input_data_file:
                        assert (repository / model / WARMUP_DIR / entry.input_data_file).is_file()
            if config.max_batch_size > 0:
                assert config.dynamic_batching.default_queue_policy.max_queue_size == DEFAULT_POLICY.max_queue_size
            # Entry steps decode sample images; a detector's postprocessing reads real image sizes from a file.
            assert is_entry_step(config) == any(e.input_data_file and e.data_type == model_config_pb2.TYPE_STRING
                                                for s in config.model_warmup for e in s.inputs.values())
        assert model_config(repository, model) is not None


def _stat(name: str, sizes: list[int], fails: int = 0) -> dict[str, object]:
    ns = {"count": 1, "ns": 500_000_000}
    return {"name": name, "version": "1", "execution_count": len(sizes),
            "inference_stats": {"fail": {"count": fails, "ns": 0}},
            "batch_stats": [{"batch_size": b, "compute_input": ns, "compute_infer": ns, "compute_output": ns}
                            for b in sizes]}


def test_warmup_stats_summarise_steps_and_skip_ensembles() -> None:
    from rawvision.server.warmup_stats import step_warmups, summary

    steps = step_warmups([_stat("a", [16, 1]), _stat("b", [1], fails=1), {"name": "ens", "version": "1"}])
    assert [(s.model, s.batch_sizes, s.executions, s.failures) for s in steps] == [
        ("a", (1, 16), 2, 0), ("b", (1,), 1, 1)]
    assert summary(steps) == "warm-up: 3 executions on 2 steps, 4.5 s of step compute; slowest a 3.0 s"
