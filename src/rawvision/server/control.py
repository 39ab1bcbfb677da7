"""Model control: list, load, unload and publish model versions on a running Triton server.

Everything goes through Triton's model-repository API (``/v2/repository/...``), which the embedded
server serves in explicit model-control mode and, when started with an admin key, only to callers that
send the key in the ``rawvision-admin-key`` header (gRPC: ``triton-grpc-protocol-rawvision-admin-key``).

What Triton 2.51 does on a swap, measured with 4 client threads streaming to the ``mnist`` ensemble
(zero failed requests out of about 1,200 in each case; ``tests/integration/test_model_control.py`` repeats it):

- **A new version under ``version_policy: latest {num_versions: 1}``**: write ``<model>/<N+1>/`` and
  call ``load <model>`` (no config). Triton loads N+1 while N keeps serving, then reloads every ensemble
  that uses the model (a new ensemble instance, loaded before the old one is unloaded), then unloads N.
  Nothing is refused in between: ``unload_dependents`` is not needed and must not be used (it would take
  the ensembles down).
- **Back to an older version**: load the model with a config override whose ``version_policy`` is
  ``specific {versions: [N]}``: the same load-then-reload-then-unload order. A later plain ``load``
  reverts to the policy in ``config.pbtxt``.
- **A new version that fails to load**: the load call fails, the old version keeps serving. But the
  next successful plain load of a new version then left the old version loaded (the server log showed
  no unload of version 1 until the next load). So ``publish`` removes the broken folder, reloads the
  model as the repository has it, and loads a new version with an explicit ``specific`` policy naming
  only that version; with it the log shows the old version unloaded every time.
- Ensemble steps use ``model_version: -1``; Triton resolves it when the ensemble is (re)loaded, so the
  ensemble reload above is what moves traffic to the new version.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.repository import model_config, next_version, write_version

LOGGER = logging.getLogger(__name__)

ADMIN_HEADER = "rawvision-admin-key"
ADMIN_KEY_ENV = "RAWVISION_ADMIN_KEY"
# Triton's gRPC frontend checks restricted protocols against this prefix plus the configured key name.
GRPC_HEADER_PREFIX = "triton-grpc-protocol-"


class ControlError(RuntimeError):
    """A model-control call was refused or failed."""


def restricted_api_args(admin_key: str) -> tuple[str, ...]:
    """Triton 2.51 options that require ``admin_key`` for the model-repository API on HTTP and gRPC.

    (2.51 spells the gRPC option ``--grpc-restricted-protocol``; inference, health, metadata, config and
    statistics stay open.)
    """
    if not admin_key or any(c in admin_key for c in ",=: \n"):
        raise ValueError("the admin key must be non-empty without spaces, commas, colons or '='")
    rule = f"model-repository:{ADMIN_HEADER}={admin_key}"
    return (f"--http-restricted-api={rule}", f"--grpc-restricted-protocol={rule}")


def admin_headers(admin_key: str | None) -> dict[str, str]:
    """HTTP headers that carry the key (none when there is no key)."""
    return {ADMIN_HEADER: admin_key} if admin_key else {}


def admin_key_from_env() -> str | None:
    """The admin key from ``RAWVISION_ADMIN_KEY``, if set."""
    return os.environ.get(ADMIN_KEY_ENV) or None


@dataclass(frozen=True)
class ModelState:
    """One row of the repository index: a model (version) and its state."""

    name: str
    version: str
    state: str
    reason: str


class ModelControl:
    """A client for Triton's model-repository API on ``http_url``, sending the admin key if given."""

    def __init__(self, http_url: str, admin_key: str | None = None, timeout: float = 600.0) -> None:
        self.http_url = http_url
        self.headers = admin_headers(admin_key)
        self._client = httpclient.InferenceServerClient(http_url, network_timeout=timeout,
                                                        connection_timeout=timeout)

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def __enter__(self) -> ModelControl:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def models(self) -> list[ModelState]:
        """Every model the repository holds, with each loaded version's state (index API)."""
        try:
            index = self._client.get_model_repository_index(headers=self.headers)
        except InferenceServerException as exc:
            raise ControlError(f"listing models failed: {exc.message()}") from exc
        return [ModelState(row["name"], row.get("version", ""), row.get("state", ""), row.get("reason", ""))
                for row in index]

    def ready_versions(self, name: str) -> list[str]:
        """The versions of ``name`` that are READY now."""
        return sorted((row.version for row in self.models() if row.name == name and row.state == "READY"), key=int)

    def load(self, name: str, versions: Sequence[int] | None = None) -> None:
        """Load or reload ``name``; with ``versions``, serve exactly those (a config override).

        Returns when Triton has loaded the model and reloaded its dependent ensembles.
        """
        config = None
        if versions:
            live: dict[str, Any] = self._client.get_model_config(name)
            live["version_policy"] = {"specific": {"versions": [int(v) for v in versions]}}
            config = json.dumps(live)
        try:
            self._client.load_model(name, headers=self.headers, config=config)
        except InferenceServerException as exc:
            raise ControlError(f"loading {name} failed: {exc.message()}") from exc

    def unload(self, name: str, unload_dependents: bool = False) -> None:
        """Unload ``name`` (and, if asked, the ensembles that use it)."""
        try:
            self._client.unload_model(name, headers=self.headers, unload_dependents=unload_dependents)
        except InferenceServerException as exc:
            raise ControlError(f"unloading {name} failed: {exc.message()}") from exc


def declares_version_output(repository: Path, name: str) -> bool:
    """Whether the core model's config declares the stamped ``model_version`` output."""
    from rawvision.server.version_stamp import VERSION_OUTPUT

    return any(out.name == VERSION_OUTPUT for out in model_config(repository, name).output)


def write_model_file(repository: Path, name: str, version: int, source: Path) -> Path:
    """Copy ``source`` into ``<repository>/<name>/<version>/`` (stamped if the config asks for it)."""
    data = source.read_bytes()
    if source.suffix == ".onnx" and declares_version_output(repository, name):
        from rawvision.server.version_stamp import stamp_version

        data = stamp_version(data, version)
    return write_version(repository / name, version, source.name, data)


def _resync(control: ModelControl, name: str) -> None:
    """After a refused version, load the model as the repository has it again (see the module notes)."""
    try:
        control.load(name)
    except ControlError as exc:
        LOGGER.error("reloading %s after a failed publish failed too: %s", name, exc)


def publish(control: ModelControl, repository: str | Path, name: str, *, source: Path | None = None,
            write: Callable[[int], object] | None = None, version: int | None = None) -> int:
    """Add a new version of core model ``name`` and load it; the old version serves until it is READY.

    The version comes from ``source`` (a model file) or from ``write``, called with the new version
    number to write ``<repository>/<name>/<version>/`` (``rawvision models publish --export`` passes an
    in-process export). If ``write`` fails or Triton refuses the new version, the folder is removed again
    and the old version keeps serving.

    Returns:
        The new version number.

    """
    repository = Path(repository)
    model_dir = repository / name
    if not (model_dir / "config.pbtxt").is_file():
        raise ControlError(f"no model {name!r} in {repository}")
    if (source is None) == (write is None):
        raise ValueError("give exactly one of a model file or a writer")
    version = version or next_version(model_dir)
    if (model_dir / str(version)).exists():
        raise ControlError(f"{name} version {version} already exists")
    try:
        if source is not None:
            write_model_file(repository, name, version, source)
        else:
            assert write is not None
            write(version)
        control.load(name, versions=[version])
    except Exception as exc:
        shutil.rmtree(model_dir / str(version), ignore_errors=True)
        _resync(control, name)
        raise ControlError(f"publishing {name} version {version} failed; the old version keeps serving: "
                           f"{exc}") from exc
    ready = control.ready_versions(name)
    if str(version) not in ready:
        raise ControlError(f"{name} version {version} is not READY after the load (ready: {ready}); "
                           "check its config's version_policy")
    LOGGER.info("%s version %d is serving", name, version)
    return version
