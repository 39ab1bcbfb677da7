"""Reload Python-backend models whose stub process died.

Measured on Triton 2.51 (the nvidia-pytriton build): after a stub process is killed, the model stays
READY and every request fails with "Stub process '<model>_0_0' is not healthy" until the model is
loaded again; the server does not restart the stub. This watchdog, run beside the server, notices a stub
that disappeared without a replacement and reloads its model through the repository API (explicit
model-control mode), so traffic recovers without an operator.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import psutil
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.repository import RESTARTS_PARAMETER

LOGGER = logging.getLogger(__name__)
Key = TypeVar("Key", str, tuple[str, str])
STUB_NAME = "triton_python_backend_stub"


def stub_models(server_pid: int) -> dict[int, str]:
    """``pid → model name`` for every live Python-backend stub of the server."""
    return {pid: name for pid, (name, _version) in stub_versions(server_pid).items()}


def stub_versions(server_pid: int) -> dict[int, tuple[str, str]]:
    """``pid → (model name, version)`` for every live Python-backend stub of the server.

    The version matters for hot swaps: unloading the old version of a model ends its stubs while the
    new version's stubs live on, which is no crash.
    """
    stubs = {}
    try:
        children = psutil.Process(server_pid).children()
    except psutil.NoSuchProcess:
        return {}
    for child in children:
        try:
            command = child.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if len(command) > 1 and Path(command[0]).name == STUB_NAME and child.status() != psutil.STATUS_ZOMBIE:
            model_file = Path(command[1])  # <repository>/<model>/<version>/<file>
            stubs[child.pid] = (model_file.parents[1].name, model_file.parent.name)
    return stubs


def crashed_models(before: Mapping[int, Key], now: Mapping[int, Key]) -> set[Key]:
    """Models that lost a stub between two looks and got no new one (a reload replaces its stubs)."""
    lost = {model for pid, model in before.items() if pid not in now}
    replaced = {model for pid, model in now.items() if pid not in before}
    return lost - replaced


def reload_candidates(before: Mapping[int, tuple[str, str]], now: Mapping[int, tuple[str, str]],
                      started_before: set[str]) -> set[tuple[str, str]]:
    """``(model, version)`` pairs that lost a stub and may have crashed.

    Models that started a stub in this look or the one before are left out: a load starts a short-lived
    stub beside the instance stubs. An old version's stubs ending after a swap are filtered later by
    readiness (that version is no longer READY).
    """
    starting = {model for pid, (model, _version) in now.items() if pid not in before}
    return {key for key in crashed_models(before, now) if key[0] not in starting | started_before}


def restart_config(client: httpclient.InferenceServerClient, model: str) -> dict[str, Any]:
    """The model's live config with its ``restarts`` parameter counted up.

    Triton treats a load of an unchanged model, even with the same config passed, as a no-op (measured:
    the dead stub stays); a changed parameter makes it a real reload, and the count tells operators how
    often the model was restarted.
    """
    config: dict[str, Any] = client.get_model_config(model)
    parameters = config.setdefault("parameters", {})
    count = int(parameters.get(RESTARTS_PARAMETER, {}).get("string_value", "0")) + 1
    parameters[RESTARTS_PARAMETER] = {"string_value": str(count)}
    return config


class StubWatchdog:
    """A thread that polls the server's stubs and reloads any model whose stub died."""

    def __init__(self, server_pid: int, http_url: str, headers: Mapping[str, str] | None = None,
                 interval: float = 1.0) -> None:
        self.server_pid = server_pid
        self.http_url = http_url
        self.headers = dict(headers or {})
        self.interval = interval
        self.reloads: list[tuple[str, float]] = []  # (model, time.monotonic() when it was ready again)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rawvision-stub-watchdog", daemon=True)

    def start(self) -> StubWatchdog:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop watching; wait at most ``timeout`` seconds for the thread.

        A reload that hangs inside Triton (seen under stub kills: a load that never finished) must not hold
        up the server's stop: the thread is a daemon, and stopping the server ends its call.
        """
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                LOGGER.warning("the stub watchdog is still in a call to the server; stopping without it")

    def _run(self) -> None:
        client = httpclient.InferenceServerClient(self.http_url, network_timeout=300)
        seen = stub_versions(self.server_pid)
        started: set[str] = set()  # models that got a new stub in the previous look
        while not self._stop.wait(self.interval):
            now = stub_versions(self.server_pid)
            # A load starts a short-lived stub beside the instance stubs; when it ends a look later, that
            # is no crash. Nor is the end of an old version's stubs after a swap (checked in _reload).
            starting = {model for pid, (model, _version) in now.items() if pid not in seen}
            for model, version in sorted(reload_candidates(seen, now, started)):
                if self._stop.is_set() or not _live(client):
                    break
                self._reload(client, model, version)
            started = starting
            seen = stub_versions(self.server_pid)
        client.close()

    def _reload(self, client: httpclient.InferenceServerClient, model: str, version: str) -> None:
        try:
            if not client.is_model_ready(model, version):
                return  # unloaded on purpose (or swapped for another version)
            LOGGER.warning("a stub of model %s died; reloading it", model)
            client.load_model(model, headers=self.headers, config=json.dumps(restart_config(client, model)))
            self.reloads.append((model, time.monotonic()))
        except InferenceServerException as exc:
            LOGGER.error("could not reload model %s: %s", model, exc)
        except Exception as exc:  # the connection broke: the server died mid-call (its supervisor restarts it)
            LOGGER.error("could not reload model %s, the server did not answer: %s", model, exc)


def _live(client: httpclient.InferenceServerClient) -> bool:
    """Whether the server answers live (``False`` when it cannot be reached)."""
    try:
        return bool(client.is_server_live())
    except Exception:  # refused or broken connection: a dead server
        return False
