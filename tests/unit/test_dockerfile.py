"""What can be checked of the production Dockerfile without a Docker engine."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from rawvision.repository import model_config
from rawvision.server.embedded import ServerOptions, startup_models
from tests.conftest import REPOSITORY, ROOT

DOCKERFILE = ROOT / "Dockerfile"
# NVIDIA's container releases and the Triton version each ships (Triton release notes).
RELEASES = {"24.09": "2.50", "24.10": "2.51", "24.11": "2.52", "24.12": "2.53", "25.01": "2.54"}
EMBEDDED_TRITON = "2.51"  # the tritonserver inside nvidia-pytriton 0.7.0 (checked live in test_container.py)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def base_release() -> str:
    (base,) = [args for keyword, args in instructions() if keyword == "FROM"]
    match = re.fullmatch(r"nvcr\.io/nvidia/tritonserver:(\d\d\.\d\d)-py3", base)
    assert match, f"base image {base!r} is not NVIDIA's tritonserver <yy.mm>-py3"
    return match.group(1)


def entrypoint() -> list[str]:
    (args,) = [args for keyword, args in instructions() if keyword == "ENTRYPOINT"]
    command: list[str] = json.loads(args)
    return command


def test_base_image_is_the_release_of_the_embedded_server() -> None:
    assert RELEASES[base_release()] == EMBEDDED_TRITON


def test_every_copied_path_exists() -> None:
    copies = [shlex.split(args) for keyword, args in instructions() if keyword == "COPY"]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context"


def test_ignore_file_keeps_what_the_image_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for keyword, args in instructions():
        if keyword == "COPY":
            for source in shlex.split(args)[:-1]:
                assert source not in ignored, f"{source} is copied but .dockerignore drops it"


def test_entrypoint_serves_the_copied_repository_with_native_backends() -> None:
    command = entrypoint()
    assert command[0] == "tritonserver"
    options = dict(arg.removeprefix("--").split("=", 1) for arg in command[1:])
    destinations = {shlex.split(args)[-1]: shlex.split(args)[0]
                    for keyword, args in instructions() if keyword == "COPY"}
    assert destinations[options["model-repository"]] == REPOSITORY.name
    assert options["model-control-mode"] == "explicit"
    assert "model-config-name" not in options  # native backends: the default config.pbtxt
    loaded = [arg.split("=", 1)[1] for arg in command if arg.startswith("--load-model=")]
    # The same start-up set as the embedded server: every model, BLS targets such as ocr_recognize included.
    assert tuple(loaded) == startup_models(ServerOptions(repository=REPOSITORY))


def test_core_models_use_native_backends_in_the_container() -> None:
    """Every model the embedded server runs differently has a native config.pbtxt for the container."""
    runners = [path.parents[1].name for path in REPOSITORY.glob("*/configs/embedded.pbtxt")]
    assert {"imagenet_onnx", "mnist_onnx"} <= set(runners)
    for model in runners:
        config = model_config(REPOSITORY, model)
        assert config.backend in ("onnxruntime", "pytorch", "tensorrt") or config.platform in (
            "onnxruntime_onnx", "pytorch_libtorch", "tensorrt_plan"), model


def test_package_supports_the_container_python() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'requires-python = ">=3\.10"', pyproject)
    assert re.search(r'target-version = "py310"', pyproject) and re.search(r'python_version = "3\.10"', pyproject)


def test_entrypoint_paths_are_absolute_in_the_image() -> None:
    command = entrypoint()
    repository = Path(next(arg for arg in command if arg.startswith("--model-repository=")).split("=", 1)[1])
    assert repository.is_absolute()
