"""EfficientNet-Lite0 cut in two: a frozen trunk whose outputs are cached, and a trainable head.

The trunk and head reuse the modules of :func:`rawvision.export.imagenet.efficientnet_lite0` (ReLU6, the
ImageNet weights); together they compute exactly what the network computes up to its new last layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rawvision.export.imagenet import efficientnet_lite0

FEATURES = 1280
"""Width of EfficientNet-Lite0's pooled features, the input of its classifier layer."""


def _pooled(network: Any, x: torch.Tensor) -> torch.Tensor:
    """Head convolution, batch norm, activation, global average pool: ``[N, 1280]``."""
    x = network._swish(network._bn1(network._conv_head(x)))
    pooled: torch.Tensor = network._avg_pooling(x).flatten(1)
    return pooled


class Trunk(nn.Module):
    """The frozen part: the stem and every block, or every block but the last, and the pooling after them."""

    def __init__(self, network: Any, train_last_block: bool) -> None:
        super().__init__()
        self.network: Any = network
        self.train_last_block = train_last_block
        self.requires_grad_(False)

    def forward(self, preprocessed_image: torch.Tensor) -> torch.Tensor:
        """Cached features: ``[N, 1280]``, or the last block's input ``[N, 192, 7, 7]``."""
        net = self.network
        x = net._swish(net._bn0(net._conv_stem(preprocessed_image)))
        blocks = net._blocks[:-1] if self.train_last_block else net._blocks
        for block in blocks:
            x = block(x)
        return x if self.train_last_block else _pooled(net, x)


class Head(nn.Module):
    """The trainable part: dropout and a new linear layer, after the last block when it is trained too."""

    def __init__(self, network: Any, classes: int, train_last_block: bool) -> None:
        super().__init__()
        self.network: Any = network if train_last_block else None
        self.dropout = nn.Dropout(0.2)
        self.linear = nn.Linear(FEATURES, classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, classes]`` from the trunk's output."""
        if self.network is not None:
            features = _pooled(self.network, self.network._blocks[-1](features))
        logits: torch.Tensor = self.linear(self.dropout(features))
        return logits

    def trainable(self) -> list[nn.Parameter]:
        """The parameters that training updates: the linear layer's, and the last block's and head conv's."""
        params = list(self.linear.parameters())
        if self.network is not None:
            for module in (self.network._blocks[-1], self.network._conv_head, self.network._bn1):
                module.requires_grad_(True)
                params.extend(module.parameters())
        return params

    def train_mode(self) -> None:
        """Dropout on, batch-norm statistics kept at their ImageNet values (too few images to re-estimate)."""
        self.train()
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()


class TransferModel(nn.Module):
    """Trunk and head as one network, input ``preprocessed_image`` ``[N, 3, 224, 224]``: what is exported."""

    def __init__(self, trunk: Trunk, head: Head) -> None:
        super().__init__()
        self.trunk, self.head = trunk, head

    def forward(self, preprocessed_image: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, classes]``."""
        logits: torch.Tensor = self.head(self.trunk(preprocessed_image))
        return logits


def transfer_model(classes: int, train_last_block: bool = False, seed: int = 0) -> TransferModel:
    """EfficientNet-Lite0 with ImageNet weights and a new, seeded ``classes``-way head, in eval mode."""
    network: Any = efficientnet_lite0().network
    torch.manual_seed(seed)
    trunk = Trunk(network, train_last_block)
    head = Head(network, classes, train_last_block)
    return TransferModel(trunk, head).eval()
