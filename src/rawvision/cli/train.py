"""``rawvision train NAME --data DIR``: a thin wrapper around :func:`rawvision.train.run.train`.

PyTorch is imported only when the command runs, so ``rawvision --help`` and serving stay torch-free.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

RUNS = Path("runs")


def _summary(report: Any) -> str:
    """The end-of-run text: images used and skipped, scores, files written, seconds."""
    evaluation = report.evaluation
    lines = [f"classes: {', '.join(report.classes)}",
             f"images: {report.train_images} trained on, {len(report.held_out)} held out, "
             f"{len(report.skipped)} skipped"]
    lines += [f"  skipped {item.path}: {item.reason}" for item in report.skipped]
    lines += [f"warning: {warning}" for warning in report.warnings]
    lines += [f"held-out accuracy: {evaluation.accuracy:.3f} "
              f"({int(evaluation.confusion.trace())}/{int(evaluation.confusion.sum())})",
              evaluation.table(),
              f"ONNX: {report.onnx_path} (ONNX Runtime vs PyTorch max |diff| {report.max_difference:.1e})",
              f"reports: {report.confusion_png}, {report.probability_png}, {report.onnx_path.parent / 'report.json'}",
              f"time: {report.seconds:.1f} s wall ({report.feature_seconds:.1f} s loading and features, "
              f"{report.fit_seconds:.1f} s training), {report.cpu_seconds:.1f} s CPU"]
    return "\n".join(lines)


def _train(args: argparse.Namespace) -> int:
    from rawvision.train.data import DataError
    from rawvision.train.fit import FitConfig
    from rawvision.train.run import TrainOptions, add_to_repository, train

    options = TrainOptions(data=args.data, out=args.out or RUNS / args.name, val=args.val,
                           val_fraction=args.val_fraction, train_last_block=args.train_last_block,
                           fit=FitConfig(epochs=args.epochs, seed=args.seed))
    try:
        report = train(options)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(_summary(report))
    if args.no_add:
        return 0
    version, models = add_to_repository(args.repository, args.name, report)
    print(f"added pipeline {args.name} (core version {version}) to {args.repository}: {', '.join(models)}")
    return 0


def add_train_parser(commands: Any, repository: Path) -> None:
    """Register ``rawvision train`` on the subcommand parsers."""
    parser = commands.add_parser(
        "train", help="transfer learning from EfficientNet-Lite0 on an image folder (one subfolder per class), "
        "ONNX export with parity checks, then add the pipeline")
    parser.add_argument("name", help="pipeline name (the ensemble a client calls)")
    parser.add_argument("--data", type=Path, required=True, help="image folder: one subfolder of JPEG/PNG per class")
    parser.add_argument("--val", type=Path, help="held-out folder with the same classes (default: a seeded split)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of each class held out without --val")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the cached features")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the new head and the batch order")
    parser.add_argument("--train-last-block", action="store_true",
                        help="also train the last block and head convolution (slower, more capacity)")
    parser.add_argument("--out", type=Path, help="reports and model.onnx (default: runs/NAME)")
    parser.add_argument("--repository", type=Path, default=repository)
    parser.add_argument("--no-add", action="store_true", help="stop after the checked ONNX file")
    parser.set_defaults(run=_train)
