"""A pipeline description of any kind → its four ``ModelConfig`` protos → ``config.pbtxt`` files.

One writer for every kind: the description supplies its spec parameters, its step tensors and its
adapter modules (:class:`rawvision.pipelines.description.PipelineKind`).

Every core model's ``configs/embedded.pbtxt`` is generated here from its native config (Python backend,
``embedded_runner.py``, runner parameters), for the classifier pipelines and OCR's models alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from rawvision.pipelines.description import (
    IMAGE_INPUT,
    LABELS_FILE,
    PREPROCESSED,
    CoreSpec,
    PipelineKind,
    Tensor,
)
from rawvision.pipelines.tuning import StepServing
from rawvision.pipelines.warm_repository import configure_step
from rawvision.pipelines.warmup_samples import WARMUP_DIR, serialize_bytes
from rawvision.repository import EMBEDDED_CONFIG_NAME, GENERATED_MARK, RUNNER_FILENAME, ModelConfig

StepKind = Literal["preprocess", "core", "postprocess", "ensemble"]
HEADER = f"{GENERATED_MARK} from the pipeline's description; regenerate, do not edit.\n"
EMBEDDED_NOTE = ("Embedded server (Python backend only): config.pbtxt with the same model file run by a "
                 "rawvision runner.")
_NATIVE = {"onnx": ("backend", "onnxruntime"), "torchscript": ("platform", "pytorch_libtorch")}
_RUNNER_FILE_PARAMETER = {"onnxruntime": "onnx_filename", "pytorch_libtorch": "torchscript_filename"}


@dataclass(frozen=True)
class StepFile:
    """One generated file: its path inside the repository and its text."""

    path: Path
    text: str | bytes


def finish_step(config: Any, step_kind: StepKind, description: PipelineKind) -> Any:
    """The one place where a step's config is completed before it is written: warm-up and queue policy.

    The preprocessing step warms up on the sample images :func:`pipeline_files` writes beside it; the
    other steps on data of their own shapes. Triton cannot warm an ensemble (server issue #6326).
    """
    if step_kind != "ensemble":
        files = sorted(description.warmup_images()) if step_kind == "preprocess" else []
        post = step_kind == "postprocess"
        data = description.postprocess_warmup if post else None
        inputs = {name: name for name in description.postprocess_warmup_files()} if post else None
        configure_step(config, files, dims={}, data=data, input_files=inputs)
    return config


def config_text(config: Any, comment: str = "") -> str:
    """``config.pbtxt`` text: the header, an optional comment, the message."""
    lines = "".join(f"# {line}\n" for line in comment.splitlines())
    return HEADER + lines + str(text_format.MessageToString(config, as_utf8=True, use_short_repeated_primitives=True))


def _add_tensor(tensors: Any, tensor: Tensor, label_filename: str | None = None) -> Any:
    added = tensors.add(name=tensor.name, data_type=model_config_pb2.DataType.Value(tensor.data_type),
                        dims=list(tensor.dims))
    if label_filename:
        added.label_filename = label_filename
    return added


def _serve(config: Any, serving: StepServing) -> None:
    config.max_batch_size = serving.max_batch_size
    config.dynamic_batching.max_queue_delay_microseconds = serving.max_queue_delay_us
    config.dynamic_batching.preferred_batch_size.extend(serving.preferred_batch_sizes)
    group = config.instance_group.add(count=serving.instances)
    if serving.kind != "KIND_AUTO":
        group.kind = model_config_pb2.ModelInstanceGroup.Kind.Value(serving.kind)


def _parameters(config: Any, values: dict[str, str]) -> None:
    for key, value in values.items():
        config.parameters[key].string_value = value


def preprocess_config(description: PipelineKind) -> Any:
    """``NAME_preprocess``: image bytes → the spec's tensor(s), spec and limits as parameters."""
    config = ModelConfig(name=description.steps.preprocess, backend="python")
    _add_tensor(config.input, Tensor(IMAGE_INPUT, (1,), "TYPE_STRING"))
    for tensor in description.preprocess_outputs():
        _add_tensor(config.output, tensor)
    _serve(config, description.serving.preprocess)
    _parameters(config, description.spec_parameters())
    return finish_step(config, "preprocess", description)


def core_config(description: PipelineKind) -> Any:
    """The core model's native config (ONNX Runtime or LibTorch backend, as NVIDIA's container runs it)."""
    core = description.core
    config = ModelConfig(name=description.steps.core)
    field_name, value = _NATIVE[core.format]
    setattr(config, field_name, value)
    image = _add_tensor(config.input, core.input)
    image.format = model_config_pb2.ModelInput.Format.Value(f"FORMAT_{description.layout}")
    _add_tensor(config.output, core.output, core.label_filename)
    for extra in core.extra_outputs:
        _add_tensor(config.output, extra)
    config.version_policy.latest.num_versions = 1
    _serve(config, description.serving.core)
    _parameters(config, _native_parameters(core.format, description.serving.core.intra_op_threads))
    return finish_step(config, "core", description)


def _native_parameters(core_format: str, intra_op_threads: int | None) -> dict[str, str]:
    """The thread budget in the native backend's own keys (ONNX Runtime lower case, LibTorch upper case)."""
    threads = {} if intra_op_threads is None else {"intra_op_thread_count": str(intra_op_threads),
                                                   "inter_op_thread_count": "1"}
    if core_format == "torchscript":
        return {"INFERENCE_MODE": "true", **{key.upper(): value for key, value in threads.items()}}
    return threads


def embedded_config(native: Any, intra_op_threads: int | None = None, model_filename: str | None = None,
                    extra: dict[str, str] | None = None) -> Any:
    """The embedded server's config of a core model, generated from its native one.

    Same tensors, batching and instances; the Python backend runs the same file through the runner shim.
    """
    engine = native.backend or native.platform
    if engine not in _RUNNER_FILE_PARAMETER:
        raise ValueError(f"{native.name}: no embedded runner for {engine!r}")
    config = ModelConfig()
    config.CopyFrom(native)
    for name in ("backend", "platform", "parameters"):
        config.ClearField(name)
    config.backend = "python"
    config.default_model_filename = RUNNER_FILENAME
    default_file = "model.onnx" if engine == "onnxruntime" else "model.pt"
    _parameters(config, {_RUNNER_FILE_PARAMETER[engine]: model_filename or default_file})
    if intra_op_threads is not None:
        _parameters(config, {"intra_op_threads": str(intra_op_threads)})
    _parameters(config, extra or {})
    return config


def postprocess_config(description: PipelineKind) -> Any:
    """``NAME_postprocess``: the core's outputs → the kind's answer (top-k classes; padded detections)."""
    config = ModelConfig(name=description.steps.postprocess, backend="python")
    for tensor in description.postprocess_inputs():
        _add_tensor(config.input, tensor)
    for tensor in description.postprocess_outputs():
        _add_tensor(config.output, tensor)
    _serve(config, description.serving.postprocess)
    _parameters(config, description.postprocess_parameters())
    return finish_step(config, "postprocess", description)


def ensemble_config(description: PipelineKind) -> Any:
    """The ensemble ``NAME``: ``IMAGE`` → preprocess → core → postprocess → the kind's outputs."""
    core, steps = description.core, description.steps
    config = ModelConfig(name=description.name, platform="ensemble",
                         max_batch_size=description.serving.ensemble_max_batch_size)
    _add_tensor(config.input, Tensor(IMAGE_INPUT, (1,), "TYPE_STRING"))
    for tensor in description.ensemble_outputs():
        _add_tensor(config.output, tensor)
    schedule = config.ensemble_scheduling
    first = schedule.step.add(model_name=steps.preprocess, model_version=-1)
    first.input_map[IMAGE_INPUT] = IMAGE_INPUT
    for tensor in description.preprocess_outputs():
        first.output_map[tensor.name] = tensor.name
    middle = schedule.step.add(model_name=steps.core, model_version=-1)
    middle.input_map[core.input.name] = PREPROCESSED
    for name, tensor_name in description.core_output_map().items():
        middle.output_map[name] = tensor_name
    last = schedule.step.add(model_name=steps.postprocess, model_version=-1)
    for tensor in description.postprocess_inputs():
        last.input_map[tensor.name] = tensor.name
    for tensor in description.postprocess_outputs():
        last.output_map[tensor.name] = tensor.name
    return finish_step(config, "ensemble", description)


def adapter_text(description: PipelineKind, kind: Literal["preprocess", "postprocess"]) -> str:
    """The one-line ``model.py`` of a Python step."""
    pre, post = description.adapters()
    adapter = pre if kind == "preprocess" else post
    return (f'"""Python-backend adapter: {adapter.what}, configured by config.pbtxt."""\n\n'
            f"from {adapter.module} import TritonPythonModel\n\n__all__ = [\"TritonPythonModel\"]\n")


def _labels_text(description: PipelineKind) -> str:
    return "".join(f"{label}\n" for label in description.label_lines)


def core_files(description: PipelineKind) -> list[StepFile]:
    """The core model's native and embedded configs, and its labels file if it has one."""
    core: CoreSpec = description.core
    folder = Path(description.steps.core)
    native = core_config(description)
    embedded = embedded_config(native, description.serving.core.intra_op_threads, core.model_filename)
    files = [StepFile(folder / "config.pbtxt", config_text(native)),
             StepFile(folder / "configs" / f"{EMBEDDED_CONFIG_NAME}.pbtxt", config_text(embedded, EMBEDDED_NOTE))]
    if core.label_filename:
        files.append(StepFile(folder / core.label_filename, _labels_text(description)))
    return files


def pipeline_files(description: PipelineKind) -> list[StepFile]:
    """Every file of the pipeline except the core's version folders (model files are written apart)."""
    steps = description.steps
    chain = " → ".join(steps.as_tuple())
    summary = f"{description.summary}\n{chain}" if description.summary else chain
    pre, post, name = Path(steps.preprocess), Path(steps.postprocess), Path(description.name)
    return [
        StepFile(pre / "config.pbtxt", config_text(preprocess_config(description))),
        StepFile(pre / "1" / "model.py", adapter_text(description, "preprocess")),
        *(StepFile(pre / WARMUP_DIR / sample, serialize_bytes([image]))
          for sample, image in sorted(description.warmup_images().items())),
        *core_files(description),
        StepFile(post / "config.pbtxt", config_text(postprocess_config(description))),
        StepFile(post / LABELS_FILE, _labels_text(description)),
        *(StepFile(post / WARMUP_DIR / tensor, data)
          for tensor, data in sorted(description.postprocess_warmup_files().items())),
        StepFile(post / "1" / "model.py", adapter_text(description, "postprocess")),
        StepFile(name / "config.pbtxt", config_text(ensemble_config(description), summary)),
        StepFile(name / "1" / ".gitkeep", ""),
    ]


def write_files(repository: Path, files: list[StepFile]) -> list[Path]:
    """Write ``files`` under ``repository`` (each replaced whole, through a temporary name)."""
    written = []
    for item in files:
        target = repository / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        if isinstance(item.text, bytes):
            partial.write_bytes(item.text)
        else:
            partial.write_text(item.text, encoding="utf-8")
        partial.replace(target)
        written.append(target)
    return written
