"""The small classifiers trained here on 28×28 grey images, as PyTorch modules."""

from __future__ import annotations

import torch
from torch import nn


class DigitCNN(nn.Module):
    """conv 32 → conv 64 → fc 128 → fc 10 with max-pooling and ReLU; the ``mnist_onnx`` network."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, 28, 28]`` → logits ``[N, 10]``."""
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        logits: torch.Tensor = self.fc2(self.relu(self.fc1(x)))
        return logits


class FashionCNN(nn.Module):
    """conv 25 + BatchNorm → pool → conv 50 + BatchNorm → pool → fc 1024/128/10; the Fashion-MNIST network."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 25, kernel_size=3), nn.BatchNorm2d(25), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(25, 50, kernel_size=3), nn.BatchNorm2d(50), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(50 * 5 * 5, 1024), nn.ReLU(), nn.Linear(1024, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, 28, 28]`` → logits ``[N, 10]``."""
        logits: torch.Tensor = self.classifier(self.features(x))
        return logits


class UnpooledDigitCNN(nn.Module):
    """Three unpadded 3×3 convolutions 32/64/64 with ReLU, no pooling, one 30,976-wide linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3), nn.ReLU(), nn.Conv2d(32, 64, kernel_size=3), nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3), nn.ReLU(),
        )
        self.fc_layers = nn.Sequential(nn.Flatten(), nn.Linear(64 * 22 * 22, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, 28, 28]`` → logits ``[N, 10]``."""
        logits: torch.Tensor = self.fc_layers(self.conv_layers(x))
        return logits
