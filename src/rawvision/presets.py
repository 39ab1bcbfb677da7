"""Named preprocessing recipes: one :class:`PreprocessSpec` per common way to prepare an image.

Detectors have letterbox presets (:class:`LetterboxSpec`) beside them. A model's preprocessing model
stores its spec as config parameters; these presets are the same specs by
name, so an exporter can write them, a test can compare a config with the recipe it claims to follow,
and a new model that shares a recipe needs no new code.
"""

from __future__ import annotations

from rawvision.detection.letterbox import LetterboxSpec
from rawvision.transforms import PreprocessSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The MNIST recipe: Grayscale, Resize((28, 28)), ToTensor, Normalize(0.5, 0.5).
MNIST = PreprocessSpec(resize=(28, 28), mean=(0.5,), std=(0.5,), scale=1.0 / 255.0, color_mode="L")

# torchvision's ImageNet eval preset: Resize(256), CenterCrop(224), ToTensor,
# Normalize(ImageNet mean, std).
IMAGENET_224 = PreprocessSpec(resize=256, crop=(224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                              scale=1.0 / 255.0, color_mode="RGB")

# A larger ImageNet crop: Resize(300), CenterCrop(256), ToTensor, Normalize(ImageNet mean, std).
IMAGENET_256 = PreprocessSpec(resize=300, crop=(256, 256), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                              scale=1.0 / 255.0, color_mode="RGB")

# EfficientNet-Lite (TensorFlow's reference preprocessing): RGB, short side 256, centre crop 224,
# (x - 127) / 128 on 0–255 samples.
EFFICIENTNET_LITE = PreprocessSpec(resize=256, crop=(224, 224), mean=(127.0,) * 3, std=(128.0,) * 3,
                                   scale=1.0, color_mode="RGB")

PRESETS: dict[str, PreprocessSpec] = {
    "mnist": MNIST,
    "imagenet-224": IMAGENET_224,
    "imagenet-256": IMAGENET_256,
    "efficientnet-lite": EFFICIENTNET_LITE,
}


# Ultralytics' YOLO input (LetterBox, then /255): RGB, NCHW, grey 114 bars, no mean or std. The size is
# the model's own; ``rawvision add --task detect`` reads it from the graph (or --input-size).
YOLO_LETTERBOX = LetterboxSpec(size=(640, 640), pad_value=114, scale=1.0 / 255.0, channel_order="RGB", layout="NCHW")

LETTERBOX_PRESETS: dict[str, LetterboxSpec] = {
    "yolo-letterbox": YOLO_LETTERBOX,
}


def letterbox_preset(name: str) -> LetterboxSpec:
    """The letterbox registered as ``name``; the error lists the known names."""
    try:
        return LETTERBOX_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown letterbox preset {name!r}; expected one of {sorted(LETTERBOX_PRESETS)}") from None


def preset(name: str) -> PreprocessSpec:
    """The spec registered as ``name``; the error lists the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preprocessing preset {name!r}; expected one of {sorted(PRESETS)}") from None
