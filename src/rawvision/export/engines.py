"""The same network for NVIDIA's native backends: TorchScript (``pytorch_libtorch``) and TensorRT plans.

Each export writes ``<out>/<model>/<version>/<file>`` plus a ``config.pbtxt`` generated from Triton's
``ModelConfig`` protobuf and the label file, into the repository the user names. The embedded
server has neither backend, so these folders are meant for NVIDIA's container, not for the served
``model_repository/`` of the tests.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from rawvision.export.family import PendingFile
from rawvision.repository import ModelConfig, model_config

LOGGER = logging.getLogger(__name__)


class EngineUnavailable(RuntimeError):
    """The machine lacks what an export needs (a package or a GPU); the message says what."""


@dataclass(frozen=True)
class CoreModel:
    """What every engine's config shares: tensor names, per-image shapes, batch size and labels."""

    name: str
    input_name: str
    input_dims: tuple[int, ...]
    output_name: str
    output_dims: tuple[int, ...]
    max_batch_size: int
    label_file: Path | None = None
    input_format: int = 0  # ModelInput.Format of the image input (FORMAT_NCHW for imagenet_onnx)


def core_config(model: CoreModel, platform: str, default_model_filename: str) -> Any:
    """A ``ModelConfig`` for ``model`` on ``platform`` (``pytorch_libtorch``, ``tensorrt_plan``, ...)."""
    config = ModelConfig(name=model.name, platform=platform, max_batch_size=model.max_batch_size,
                         default_model_filename=default_model_filename)
    tensor = config.input.add(name=model.input_name, dims=list(model.input_dims))
    tensor.data_type = model_config_type("TYPE_FP32")
    tensor.format = model.input_format
    output = config.output.add(name=model.output_name, dims=list(model.output_dims))
    output.data_type = model_config_type("TYPE_FP32")
    if model.label_file is not None:
        output.label_filename = model.label_file.name
    config.dynamic_batching.max_queue_delay_microseconds = 1000
    config.version_policy.latest.num_versions = 1
    return config


def model_config_type(name: str) -> int:
    """The ``DataType`` enum value for a name such as ``TYPE_FP32``."""
    value: int = ModelConfig.DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name[
        "data_type"].enum_type.values_by_name[name].number
    return value


def core_model_from(repository: str | Path, source: str, name: str) -> CoreModel:
    """The tensors, batch size and labels of ``source``'s config in ``repository``, under the name ``name``."""
    config = model_config(repository, source)
    tensor_in, tensor_out = config.input[0], config.output[0]
    label_file = Path(repository) / source / tensor_out.label_filename if tensor_out.label_filename else None
    return CoreModel(name=name, input_name=tensor_in.name, input_dims=tuple(tensor_in.dims),
                     output_name=tensor_out.name, output_dims=tuple(tensor_out.dims),
                     max_batch_size=config.max_batch_size, label_file=label_file, input_format=tensor_in.format)


def engine_files(model: CoreModel, version: int, filename: str, data: bytes, platform: str) -> tuple[PendingFile, ...]:
    """The model file, its generated ``config.pbtxt`` and its label file, for a repository of NVIDIA's container."""
    config = text_format.MessageToString(core_config(model, platform, filename)).encode()
    files = [PendingFile(model.name, version, filename, data, runner=False),
             PendingFile(model.name, None, "config.pbtxt", config)]
    if model.label_file is not None:
        files.append(PendingFile(model.name, None, model.label_file.name, model.label_file.read_bytes()))
    return tuple(files)


def cuda_device_count() -> int:
    """NVIDIA GPUs the driver reports (0 without a driver), asked through ``libcuda`` directly."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def tensorrt_module() -> Any:
    """The ``tensorrt`` package, if this machine can build plans; else :class:`EngineUnavailable`."""
    try:
        import tensorrt
    except ImportError:
        raise EngineUnavailable("TensorRT export needs the `tensorrt` Python package (NVIDIA's TensorRT "
                                "container ships it, or pip install tensorrt-cu12) and an NVIDIA GPU; "
                                "`tensorrt` is not importable here") from None
    if cuda_device_count() == 0:
        raise EngineUnavailable("TensorRT export needs an NVIDIA GPU with its driver (libcuda); none was found "
                                "here. Build the plan on the GPU that will serve it: plans are specific to "
                                "the GPU model and TensorRT version")
    return tensorrt


def tensorrt_plan(onnx_bytes: bytes, model: CoreModel, fp16: bool = False,
                  workspace_bytes: int = 1 << 30) -> bytes:
    """Build a serialised TensorRT engine from ONNX with one optimisation profile over the batch axis.

    The profile spans batch 1 to ``model.max_batch_size`` (optimised for the largest); ``fp16`` lets
    TensorRT pick half-precision kernels where the GPU has fast FP16.
    """
    trt = tensorrt_module()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if fp16:
        if not builder.platform_has_fast_fp16:
            LOGGER.warning("this GPU has no fast FP16; building with FP16 allowed anyway")
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shape = model.input_dims
    profile.set_shape(model.input_name, (1, *shape), (model.max_batch_size, *shape), (model.max_batch_size, *shape))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT failed to build the engine (see its log above)")
    return bytes(plan)
