"""Every config parses as Triton's ModelConfig, ensembles wire up, and model files agree with configs."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest

from rawvision.repository import ensemble_names, model_config, model_names, read_config

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
CONFIG_FILES = sorted(REPOSITORY.glob("*/config.pbtxt")) + sorted(REPOSITORY.glob("*/configs/*.pbtxt"))
BACKEND_FIELDS = {"backend", "platform", "default_model_filename", "parameters"}


def io_names(config, kind: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {t.name for t in getattr(config, kind)}


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(REPOSITORY)))
def test_config_parses_and_names_its_folder(path: Path) -> None:
    config = read_config(path)
    folder = path.parent if path.name == "config.pbtxt" else path.parent.parent
    assert config.name == folder.name
    assert config.backend or config.platform


@pytest.mark.parametrize("ensemble", ensemble_names(REPOSITORY))
def test_ensemble_steps_are_consistent(ensemble: str) -> None:
    config = model_config(REPOSITORY, ensemble)
    available = io_names(config, "input")
    for step in config.ensemble_scheduling.step:
        assert step.model_name in model_names(REPOSITORY), step.model_name
        for config_name in (None, "embedded"):
            target = model_config(REPOSITORY, step.model_name, config_name)
            assert set(step.input_map) == io_names(target, "input"), step.model_name
            assert set(step.output_map) <= io_names(target, "output"), step.model_name
            assert target.max_batch_size >= config.max_batch_size, step.model_name
        missing = set(step.input_map.values()) - available
        assert not missing, f"{step.model_name} consumes {missing} before any step produces it"
        available |= set(step.output_map.values())
    assert io_names(config, "output") <= available


@pytest.mark.parametrize("path", sorted(REPOSITORY.glob("*/configs/embedded.pbtxt")),
                         ids=lambda p: p.parent.parent.name)
def test_embedded_config_differs_only_in_how_it_runs(path: Path) -> None:
    native = read_config(path.parent.parent / "config.pbtxt")
    embedded = read_config(path)
    assert embedded.backend == "python" and embedded.default_model_filename
    for field in BACKEND_FIELDS:
        native.ClearField(field)  # type: ignore[arg-type]
        embedded.ClearField(field)  # type: ignore[arg-type]
    assert native == embedded


def onnx_models() -> list[tuple[str, Path]]:
    return [(p.parents[1].name, p) for p in sorted(REPOSITORY.glob("*/[0-9]*/model.onnx"))]


def test_exported_models_exist() -> None:
    assert [name for name, _ in onnx_models()], "run `make models` first"


@pytest.mark.parametrize(("name", "path"), onnx_models(), ids=lambda v: str(v))
def test_onnx_tensors_match_the_config(name: str, path: Path) -> None:
    config = model_config(REPOSITORY, name)
    graph = onnx.load(str(path)).graph

    def shapes(values) -> dict[str, list[int | str]]:  # type: ignore[no-untyped-def]
        return {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim] for v in values}

    for declared, actual in ((config.input, shapes(graph.input)), (config.output, shapes(graph.output))):
        assert {t.name for t in declared} == set(actual)
        for tensor in declared:
            batch, *dims = actual[tensor.name]
            assert isinstance(batch, str), f"{tensor.name} needs a dynamic batch axis"
            # A batching config leaves the batch axis out of dims; a non-batching one (max_batch_size 0)
            # declares it as -1. A symbolic model dim may be -1 or pinned by the config (the
            # recogniser's height 48); a fixed model dim must be declared as it is.
            expected = list(tensor.dims) if config.max_batch_size > 0 else list(tensor.dims)[1:]
            if config.max_batch_size == 0:
                assert tensor.dims[0] == -1, f"{tensor.name}: the batch axis must be -1"
            assert len(dims) == len(expected), (tensor.name, dims, expected)
            for have, want in zip(dims, expected, strict=True):
                assert isinstance(have, str) or have == want, (tensor.name, dims, expected)


def torchscript_models() -> list[tuple[str, Path]]:
    return [(p.parents[1].name, p) for p in sorted(REPOSITORY.glob("*/[0-9]*/model.pt"))]


def test_torchscript_models_exist() -> None:
    assert {name for name, _ in torchscript_models()} >= {"fashion_mnist_torchscript", "mnist_torchscript"}


@pytest.mark.parametrize(("name", "path"), torchscript_models(), ids=lambda v: str(v))
def test_torchscript_module_matches_the_config(name: str, path: Path) -> None:
    """TorchScript keeps no tensor names, so check what LibTorch checks: arity, naming rule, shapes."""
    import torch

    config = model_config(REPOSITORY, name)
    assert config.platform == "pytorch_libtorch"
    module = torch.jit.load(str(path))
    arguments = [a.name for a in module.forward.schema.arguments][1:]  # first is self
    assert len(arguments) == len(config.input)
    inputs, outputs = [t.name for t in config.input], [t.name for t in config.output]
    assert inputs == arguments or all(re.fullmatch(r".+__\d+", n) for n in inputs), inputs
    assert all(re.fullmatch(r".+__\d+", n) for n in outputs), f"LibTorch outputs need <name>__<index>: {outputs}"
    batch = 3
    dummy = [torch.zeros(batch, *t.dims) for t in config.input]
    with torch.no_grad():
        output = module(*dummy)
    results = output if isinstance(output, tuple) else (output,)
    assert [tuple(o.shape) for o in results] == [(batch, *t.dims) for t in config.output]
