"""``rawvision add`` and ``rawvision regenerate``: thin wrappers over :mod:`rawvision.pipelines`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from rawvision.classify import load_labels
from rawvision.imaging import ColorMode
from rawvision.pipelines.add import AddedPipeline, add_pipeline, smoke_image
from rawvision.pipelines.builtin import regenerate
from rawvision.pipelines.inspect_model import ModelCheckError
from rawvision.presets import PRESETS, preset
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


def spec_from_args(args: argparse.Namespace) -> PreprocessSpec:
    """``--preset`` with any explicit option on top, or the explicit options alone."""
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


def _report(added: AddedPipeline, repository: Path, served: bool) -> None:
    core = added.description.core
    if added.version == 1:
        print(f"added {added.name}: {' → '.join(added.models[:3])} in {repository}")
        print(f"  core {core.format}: {core.input.name} {list(core.input.dims)} → {core.output.name} "
              f"{list(core.output.dims)}; top-{added.description.top_k} of {core.num_classes} classes")
    else:
        done = "published: the old version served until this one was ready" if served else "written"
        print(f"{added.name}: {added.models[0]} version {added.version} {done}")
    for path in added.paths:
        print(f"  {path}")


def _add(args: argparse.Namespace) -> int:
    try:
        spec = spec_from_args(args)
        labels = load_labels(args.labels) if args.labels else None
        control = ModelControl(args.url, args.admin_key) if args.url else None
        added = add_pipeline(args.repository, args.name, args.model, spec, labels=labels, top_k=args.top_k,
                             input_shape=args.input_shape, control=control)
        _report(added, args.repository, control is not None)
        if args.url:
            print(f"loaded on {args.url}; smoke image → {_smoke(args.url, args.name, spec)}")
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
    add = commands.add_parser("add", help="your own classifier (ONNX or TorchScript) as a raw-bytes ensemble")
    add.add_argument("name", help="the ensemble's name; NAME_preprocess, NAME_<format>, NAME_postprocess too")
    add.add_argument("--model", type=Path, required=True, help="model.onnx or a TorchScript .pt file")
    add.add_argument("--labels", type=Path, help="one label per line (default: the class index)")
    add.add_argument("--preset", choices=sorted(PRESETS), help="a named preprocessing recipe")
    add.add_argument("--resize", type=_size, help="N (short side) or H,W")
    add.add_argument("--crop", type=_size, help="H,W centre crop")
    add.add_argument("--mean", type=_numbers, help="per channel, comma separated")
    add.add_argument("--std", type=_numbers, help="per channel, comma separated")
    add.add_argument("--scale", type=float, help="factor on 0-255 samples first (default 1/255)")
    add.add_argument("--color-mode", type=lambda s: cast(ColorMode, s), choices=["L", "RGB"])
    add.add_argument("--interpolation", type=lambda s: cast(Interpolation, s),
                     choices=["nearest", "bilinear", "bicubic"])
    add.add_argument("--top-k", type=int, default=5)
    add.add_argument("--input-shape", type=_shape, help="C,H,W; required for TorchScript")
    add.add_argument("--repository", type=Path, default=default_repository)
    add.add_argument("--url", help="a running server's HTTP host:port: load the pipeline and send a smoke image")
    add.add_argument("--admin-key", default=admin_key_from_env(), help="default: $RAWVISION_ADMIN_KEY")
    add.set_defaults(run=_add)
    regen = commands.add_parser("regenerate", help="rewrite the built-in pipelines' configs from their descriptions")
    regen.add_argument("--repository", type=Path, default=default_repository)
    regen.add_argument("--out", type=Path, help="write here instead of into the repository")
    regen.set_defaults(run=_regenerate)
