"""Named preprocessing recipes: the configs follow them, torchvision agrees, JPEG drafting stays close."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms as T

from rawvision.imaging import decode, encode, open_image
from rawvision.presets import EFFICIENTNET_LITE, IMAGENET_224, IMAGENET_256, MNIST, PRESETS, preset
from rawvision.repository import preprocess_spec
from rawvision.testing.images import gradient
from rawvision.testing.photos import exif_rotated_jpeg, jpeg, photo, upscaled
from rawvision.transforms import PreprocessSpec, draft_size, preprocess
from tests.conftest import REPOSITORY

NORMALIZE = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
RESIZE_300_CROP_256 = T.Compose([T.Resize(300), T.CenterCrop(256), T.ToTensor(), NORMALIZE])
RESIZE_256_CROP_224 = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), NORMALIZE])
EFFICIENTNET = T.Compose([T.Resize(256), T.CenterCrop(224), T.PILToTensor(),
                          T.Lambda(lambda x: (x.float() - 127.0) / 128.0)])


def torchvision_reference(data: bytes, pipeline: T.Compose) -> np.ndarray:
    result: np.ndarray = pipeline(Image.open(io.BytesIO(data)).convert("RGB")).numpy()
    return result


def test_repository_configs_follow_their_presets() -> None:
    assert preprocess_spec(REPOSITORY, "mnist_preprocess") == MNIST
    served = preprocess_spec(REPOSITORY, "imagenet_preprocess")
    assert served.jpeg_draft
    assert PreprocessSpec(**{**served.__dict__, "jpeg_draft": False}) == EFFICIENTNET_LITE


@pytest.mark.parametrize(("spec", "pipeline"), [(IMAGENET_224, RESIZE_256_CROP_224),
                                                (IMAGENET_256, RESIZE_300_CROP_256),
                                                (EFFICIENTNET_LITE, EFFICIENTNET)],
                         ids=["resize256-crop224", "resize300-crop256", "efficientnet-lite"])
@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_presets_match_the_torchvision_recipes(spec: PreprocessSpec, pipeline: T.Compose, name: str) -> None:
    data = jpeg(photo(name))
    ours = preprocess([data], spec)[0]
    theirs = torchvision_reference(data, pipeline)
    assert ours.shape == theirs.shape == spec.output_shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_presets_round_trip_through_config_parameters() -> None:
    for spec in PRESETS.values():
        assert PreprocessSpec.from_parameters(spec.to_parameters()) == spec
    drafted = PreprocessSpec(**{**EFFICIENTNET_LITE.__dict__, "jpeg_draft": True})
    assert PreprocessSpec.from_parameters(drafted.to_parameters()) == drafted


def test_unknown_preset_names_the_known_ones() -> None:
    assert preset("imagenet-256") is IMAGENET_256
    with pytest.raises(ValueError, match="efficientnet-lite"):
        preset("resnet")


DRAFTED = PreprocessSpec(**{**EFFICIENTNET_LITE.__dict__, "jpeg_draft": True})


def test_draft_keeps_at_least_twice_the_target() -> None:
    bound = draft_size(DRAFTED)
    assert bound(4000, 3000) == (682, 512)
    assert bound(3000, 4000) == (512, 682)
    assert draft_size(MNIST)(4000, 3000) == (56, 56)
    image = open_image(upscaled("coffee"), draft=bound)
    assert image.size[0] < 4000 and min(image.size) >= 512


def test_draft_leaves_small_photos_and_pngs_bit_identical() -> None:
    for data in (jpeg(photo("coffee")), encode(gradient(2000, 1500), "PNG")):
        np.testing.assert_array_equal(preprocess([data], DRAFTED), preprocess([data], EFFICIENTNET_LITE))


def test_drafted_12_megapixel_photos_stay_close_to_the_full_decode() -> None:
    """The stated tolerance of the fast path: mean |diff| below 1.5 grey levels, max below 40 levels."""
    for name in ("chelsea", "coffee", "astronaut"):
        data = upscaled(name)
        full, fast = preprocess([data], EFFICIENTNET_LITE)[0], preprocess([data], DRAFTED)[0]
        levels = np.abs(full - fast) * 128.0
        assert levels.mean() < 1.5 and levels.max() < 40, (name, levels.mean(), levels.max())


def test_draft_respects_exif_rotation() -> None:
    data = exif_rotated_jpeg(np.asarray(Image.fromarray(photo("chelsea")).resize((1804, 1200))))
    shown = decode(data, "RGB", draft=draft_size(DRAFTED))
    assert shown.width > shown.height  # turned back to landscape
    assert preprocess([data], DRAFTED).shape == (1, 3, 224, 224)
