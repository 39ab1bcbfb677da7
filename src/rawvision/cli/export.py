"""``rawvision export <family>``: one generic subcommand per family of :data:`rawvision.export.registry.FAMILIES`.

The exporter is imported when a subcommand runs, so ``rawvision --help`` and the serving commands need no PyTorch.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from rawvision.export.family import Family, Options
from rawvision.export.registry import FAMILIES

OPTION_ARGUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "epochs": ("--epochs", {"type": int, "help": "training epochs (default: the family's tuned setting)"}),
    "steps": ("--steps", {"type": int, "help": "optimizer steps (default: the family's tuned budget)"}),
    "train_size": ("--train-size", {"type": int, "help": "train on a seeded subset of this many images"}),
    "fp16": ("--fp16", {"action": "store_true", "help": "tensorrt: allow FP16 kernels"}),
}


def add_family_arguments(parser: argparse.ArgumentParser, family: Family, repository: Path) -> None:
    """The flags of ``family``: repository, version, and whichever of format, data, out and options it declares."""
    parser.add_argument("--repository", type=Path, default=repository,
                        help="repository whose configs (preprocessing, tensors, labels) the export follows and "
                        "into which it writes the formats the embedded server runs")
    if len(family.formats) > 1:
        parser.add_argument("--format", choices=family.formats, default=family.formats[0])
    if family.data_help:
        parser.add_argument("--data", type=Path, help=family.data_help)
    if any(target.config_from for target in family.targets):
        outside = "/".join(target.format for target in family.targets if target.config_from)
        parser.add_argument("--out", type=Path, help=f"{outside}: repository to write into (default ./exports; the "
                            "embedded server has no backend for them)")
    parser.add_argument("--version", type=int, default=1)
    for option in family.options:
        flag, settings = OPTION_ARGUMENTS[option]
        parser.add_argument(flag, dest=option, **settings)
    parser.set_defaults(run=_run, family=family.name)


def add_families(families: Any, repository: Path) -> None:
    """One subparser per registered family."""
    for family in FAMILIES.values():
        add_family_arguments(families.add_parser(family.name, help=family.summary), family, repository)


def run_export(args: argparse.Namespace, version: int | None = None, repository: Path | None = None) -> Any:
    """Run the parsed export (``version``/``repository`` override the parsed ones); return its ``ExportReport``."""
    from rawvision.export.exporter import export

    family = FAMILIES[args.family]
    options = Options(**{option: getattr(args, option) for option in family.options})
    return export(family, getattr(args, "format", None), version or args.version, repository or args.repository,
                  out=getattr(args, "out", None), data=getattr(args, "data", None), options=options)


def _run(args: argparse.Namespace) -> int:
    from rawvision.export.engines import EngineUnavailable
    from rawvision.export.family import ExportError

    try:
        report = run_export(args)
    except (EngineUnavailable, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0


def parse_export(command: str, repository: Path) -> argparse.Namespace:
    """An export as text, ``'mnist --epochs 3'`` or ``'rawvision export mnist --epochs 3'``, parsed."""
    words = shlex.split(command)
    if words and Path(words[0]).name == "rawvision":
        words = [w for w in words[1:] if w not in ("-v", "--verbose")]
    if words and words[0] == "export":
        words = words[1:]
    parser = argparse.ArgumentParser(prog="rawvision export")
    add_families(parser.add_subparsers(dest="family", required=True), repository)
    return parser.parse_args(words)


def add_export_parser(commands: Any, repository: Path) -> None:
    """Add ``export`` and its families to the ``rawvision`` subcommands."""
    export = commands.add_parser("export", help="train or load, export, check and write a model version")
    add_families(export.add_subparsers(dest="family", required=True), repository)
