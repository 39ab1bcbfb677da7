"""``rawvision add`` and ``rawvision regenerate``: thin wrappers over :mod:`rawvision.pipelines`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from rawvision.classify import load_labels
from rawvision.detection.letterbox import LetterboxSpec
from rawvision.imaging import ColorMode
from rawvision.pipelines.add import AddedPipeline, add_detector, add_pipeline, smoke_image
from rawvision.pipelines.builtin import regenerate
from rawvision.pipelines.description import ClassifierDescription
from rawvision.pipelines.inspect_model import ModelCheckError
from rawvision.presets import LETTERBOX_PRESETS, PRESETS, YOLO_LETTERBOX, letterbox_preset, preset
from rawvision.server.control import ControlError, ModelControl, admin_key_from_env
from rawvision.transforms import Interpolation, PreprocessSpec


def _numbers(text: str, kind: type[float] | type[int] = float) -> tuple[Any, ...]:
    return tuple(kind(part) for part in text.split(","))


def _size(text: str) -> tuple[int, int] | int:
    values = _numbers(text, int)
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected N or H,W, got {text!r}")
    return cast(int, values[0]) if len(values) == 1 else cast(tuple[int, int], values)


def _shape(text: str) -> tuple[int, int, int]:
    values = _numbers(text, int)
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected C,H,W, got {text!r}")
    return cast(tuple[int, int, int], values)


def _pair(text: str) -> tuple[int, int]:
    values = _numbers(text, int)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected H,W, got {text!r}")
    return cast(tuple[int, int], values)


def letterbox_from_args(args: argparse.Namespace) -> LetterboxSpec:
    """A detector's letterbox: ``--preset`` (default ``yolo-letterbox``) with --scale, --mean, --std, --pad-value.

    Its size is the model's; ``add`` sets it from the graph or ``--input-size``.
    """
    refused = [flag for flag, value in (("--resize", args.resize), ("--crop", args.crop),
                                        ("--color-mode", args.color_mode), ("--top-k", args.top_k),
                                        ("--input-shape", args.input_shape)) if value is not None]
    if refused:
        raise ValueError(f"{', '.join(refused)} belong to classifiers; a detector is letterboxed to its input size "
                         "(--input-size H,W when the model's is dynamic)")
    if args.interpolation == "bicubic":
        raise ValueError("a letterbox resizes with nearest or bilinear interpolation, not bicubic")
    if args.preset and args.preset not in LETTERBOX_PRESETS:
        raise ValueError(f"--preset {args.preset} is a classifier recipe; a detector takes one of "
                         f"{sorted(LETTERBOX_PRESETS)}")
    explicit = {"mean": args.mean, "std": args.std, "scale": args.scale, "interpolation": args.interpolation,
                "pad_value": args.pad_value}
    base = letterbox_preset(args.preset) if args.preset else YOLO_LETTERBOX
    return replace(base, **{key: value for key, value in explicit.items() if value is not None})


def spec_from_args(args: argparse.Namespace) -> PreprocessSpec:
    """``--preset`` with any explicit option on top, or the explicit options alone."""
    if args.preset in LETTERBOX_PRESETS:
        raise ValueError(f"--preset {args.preset} is a detector's letterbox; give --task detect")
    if args.pad_value is not None:
        raise ValueError("--pad-value is a detector's letterbox bars; give --task detect")
    explicit = {"resize": args.resize, "crop": args.crop, "mean": args.mean, "std": args.std,
                "scale": args.scale, "color_mode": args.color_mode, "interpolation": args.interpolation}
    given = {key: value for key, value in explicit.items() if value is not None}
    if args.preset:
        return replace(preset(args.preset), **given)
    if "resize" not in given:
        raise ValueError("give --preset or at least --resize (with --crop, --mean, --std, --color-mode ...)")
    return PreprocessSpec(**given)


def _smoke(url: str, name: str, spec: PreprocessSpec) -> str:
    from rawvision.client import classify_client

    client = classify_client.Client(url, name)
    try:
        (answer,) = client.classify([smoke_image(spec)])
    finally:
        client.close()
    return ", ".join(f"{p.label} {p.score:.3f}" for p in answer)


def _detect_smoke(url: str, name: str, spec: LetterboxSpec) -> str:
    import numpy as np
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url)
    try:
        image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
        image.set_data_from_numpy(np.array([[smoke_image(spec)]], dtype=np.object_))
        result = client.infer(name, [image])
    finally:
        client.close()
    return f"{int(result.as_numpy('COUNT')[0, 0])} detection(s)"


def _report(added: AddedPipeline, repository: Path, served: bool) -> None:
    description = added.description
    core = description.core
    if added.version == 1:
        print(f"added {added.name}: {' → '.join(added.models[:3])} in {repository}")
        outputs = ", ".join(f"{o.name} {list(o.dims)}" for o in core.outputs)
        if isinstance(description, ClassifierDescription):
            what = f"top-{description.top_k} of {core.num_classes} classes"
        else:
            options = description.options
            what = (f"{description.head} head, {description.num_classes} class(es), letterbox "
                    f"{list(description.spec.size)}; score {options.score_threshold}, IoU {options.iou_threshold}, "
                    f"at most {options.max_detections}")
        print(f"  core {core.format}: {core.input.name} {list(core.input.dims)} → {outputs}; {what}")
    else:
        done = "published: the old version served until this one was ready" if served else "written"
        print(f"{added.name}: {added.models[0]} version {added.version} {done}")
    for path in added.paths:
        print(f"  {path}")


def _add(args: argparse.Namespace) -> int:
    try:
        labels = load_labels(args.labels) if args.labels else None
        control = ModelControl(args.url, args.admin_key) if args.url else None
        if args.task == "detect":
            letterbox = letterbox_from_args(args)
            added = add_detector(args.repository, args.name, args.model, letterbox, labels=labels,
                                 input_size=args.input_size, control=control)
        else:
            if args.input_size is not None:
                raise ValueError("--input-size is for detectors (--task detect); a classifier takes --input-shape")
            spec = spec_from_args(args)
            added = add_pipeline(args.repository, args.name, args.model, spec, labels=labels,
                                 top_k=5 if args.top_k is None else args.top_k, input_shape=args.input_shape,
                                 control=control)
        _report(added, args.repository, control is not None)
        if args.url:
            description = added.description
            answer = (_smoke(args.url, args.name, description.spec) if isinstance(description, ClassifierDescription)
                      else _detect_smoke(args.url, args.name, description.spec))
            print(f"loaded on {args.url}; smoke image → {answer}")
    except (ModelCheckError, ControlError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _regenerate(args: argparse.Namespace) -> int:
    paths = regenerate(args.repository, args.out)
    print(f"wrote {len(paths)} files of the built-in pipelines to {args.out or args.repository}")
    return 0


def add_pipeline_parsers(commands: Any, default_repository: Path) -> None:
    """Add the ``add`` and ``regenerate`` subcommands."""
    add = commands.add_parser("add", help="your own classifier (ONNX or TorchScript) or ONNX detector as a "
                              "raw-bytes ensemble")
    add.add_argument("name", help="the ensemble's name; NAME_preprocess, NAME_<format>, NAME_postprocess too")
    add.add_argument("--model", type=Path, required=True, help="model.onnx or a TorchScript .pt file")
    add.add_argument("--task", choices=["classify", "detect"], default="classify",
                     help="detect: an ONNX detector (Ultralytics YOLOv8/YOLO11 or YOLOv5 export, CenterFace), "
                     "letterboxed, boxes out")
    add.add_argument("--labels", type=Path, help="one label per line (default: the class index)")
    add.add_argument("--preset", choices=sorted({*PRESETS, *LETTERBOX_PRESETS}),
                     help="a named preprocessing recipe (detectors: yolo-letterbox, the default)")
    add.add_argument("--input-size", type=_pair, help="H,W: a detector's input size when its graph leaves it dynamic")
    add.add_argument("--resize", type=_size, help="N (short side) or H,W")
    add.add_argument("--crop", type=_size, help="H,W centre crop")
    add.add_argument("--mean", type=_numbers, help="per channel, comma separated")
    add.add_argument("--std", type=_numbers, help="per channel, comma separated")
    add.add_argument("--scale", type=float, help="factor on 0-255 samples first (default 1/255)")
    add.add_argument("--pad-value", type=int, help="grey level 0-255 of a detector's letterbox bars (preset: 114)")
    add.add_argument("--color-mode", type=lambda s: cast(ColorMode, s), choices=["L", "RGB"])
    add.add_argument("--interpolation", type=lambda s: cast(Interpolation, s),
                     choices=["nearest", "bilinear", "bicubic"])
    add.add_argument("--top-k", type=int, help="classes answered (classifiers; default 5)")
    add.add_argument("--input-shape", type=_shape, help="C,H,W; required for TorchScript")
    add.add_argument("--repository", type=Path, default=default_repository)
    add.add_argument("--url", help="a running server's HTTP host:port: load the pipeline and send a smoke image")
    add.add_argument("--admin-key", default=admin_key_from_env(), help="default: $RAWVISION_ADMIN_KEY")
    add.set_defaults(run=_add)
    regen = commands.add_parser("regenerate", help="rewrite the built-in pipelines' configs from their descriptions")
    regen.add_argument("--repository", type=Path, default=default_repository)
    regen.add_argument("--out", type=Path, help="write here instead of into the repository")
    regen.set_defaults(run=_regenerate)
