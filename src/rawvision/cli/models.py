"""``rawvision models list|load|unload|publish``: thin CLI over :mod:`rawvision.server.control`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rawvision.server.control import ControlError, ModelControl, admin_key_from_env, publish


def _list(control: ModelControl, _args: argparse.Namespace) -> None:
    rows = control.models()
    width = max((len(row.name) for row in rows), default=4)
    for row in rows:
        print(f"{row.name:<{width}}  {row.version or '-':>7}  {row.state or '-':<11}  {row.reason}".rstrip())


def _load(control: ModelControl, args: argparse.Namespace) -> None:
    control.load(args.name, versions=args.version or None)
    print(f"{args.name}: ready versions {', '.join(control.ready_versions(args.name))}")


def _unload(control: ModelControl, args: argparse.Namespace) -> None:
    control.unload(args.name, unload_dependents=args.unload_dependents)
    print(f"{args.name}: unloaded")


def export_writer(command: str, repository: Path, name: str) -> Callable[[int], None]:
    """A ``write(version)`` for :func:`publish` that runs the export ``command`` in process into ``repository``.

    Raises:
        ControlError: the export writes another model than ``name``.

    """
    from rawvision.cli.export import parse_export, run_export
    from rawvision.export.registry import FAMILIES

    args = parse_export(command, repository)
    family = FAMILIES[args.family]
    target = family.target(getattr(args, "format", None) or family.formats[0])
    if target.core_model != name or target.config_from:
        raise ControlError(f"the export {command!r} writes {target.core_model}, not {name} in {repository}")

    def write(version: int) -> None:
        report = run_export(args, version=version, repository=repository)
        print("\n".join(report.lines()))

    return write


def _publish(control: ModelControl, args: argparse.Namespace) -> None:
    write = export_writer(args.export, args.repository, args.name) if args.export else None
    version = publish(control, args.repository, args.name, source=args.file, write=write,
                      version=args.new_version)
    print(f"{args.name}: version {version} is serving (ready: {', '.join(control.ready_versions(args.name))})")


def _run(args: argparse.Namespace) -> int:
    try:
        with ModelControl(args.url, args.admin_key) as control:
            args.action(control, args)
    except ControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def add_models_parser(commands: Any) -> None:
    """Add the ``models`` subcommand and its actions to the top-level subparsers."""
    models = commands.add_parser("models", help="list, load, unload or publish models on a running server")
    models.add_argument("--url", default="localhost:8000", help="the server's HTTP host:port")
    models.add_argument("--admin-key", default=admin_key_from_env(), help="default: $RAWVISION_ADMIN_KEY")
    models.set_defaults(run=_run)
    actions = models.add_subparsers(dest="action_name", required=True)
    actions.add_parser("list", help="every model in the repository with its versions and states"
                       ).set_defaults(action=_list)
    load = actions.add_parser("load", help="load or reload a model (and reload the ensembles that use it)")
    load.add_argument("name")
    load.add_argument("--version", type=int, action="append",
                      help="serve exactly this version (repeatable); default: the config's version_policy")
    load.set_defaults(action=_load)
    unload = actions.add_parser("unload", help="unload a model")
    unload.add_argument("name")
    unload.add_argument("--unload-dependents", action="store_true", help="also unload ensembles that use it")
    unload.set_defaults(action=_unload)
    pub = actions.add_parser("publish", help="add a new version of a core model and switch traffic to it")
    pub.add_argument("name")
    source = pub.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="the model file (e.g. model.onnx) of the new version")
    source.add_argument("--export", help="an export, run in process into --repository as the new version, "
                        "e.g. 'mnist' or 'rawvision export mnist --data DIR'")
    pub.add_argument("--repository", type=Path, default=Path("model_repository"),
                     help="the server's repository folder (same file system)")
    pub.add_argument("--new-version", type=int, help="default: one more than the highest version")
    pub.set_defaults(action=_publish)
