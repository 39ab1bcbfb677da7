"""The random-shift augmentation of the training loop moves content and keeps shape; 0 leaves batches alone."""

from __future__ import annotations

import torch

from rawvision.export.training import shifted


def test_shift_moves_the_batch_by_at_most_the_limit() -> None:
    batch = torch.zeros(2, 1, 9, 9)
    batch[:, :, 4, 4] = 1.0
    seen = set()
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        out = shifted(batch, 2, generator)
        assert out.shape == batch.shape
        (y, x) = (int(v) for v in torch.nonzero(out[0, 0])[0])
        assert abs(y - 4) <= 2 and abs(x - 4) <= 2
        seen.add((y, x))
    assert len(seen) > 10


def test_no_shift_is_the_identity() -> None:
    batch = torch.rand(3, 1, 5, 5)
    assert shifted(batch, 0, torch.Generator()) is batch
