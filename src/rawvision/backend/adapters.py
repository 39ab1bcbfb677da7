"""What every Python-backend model shares: config reading and per-request batching with errors.

``execute_batched`` does for a Triton ``execute`` what pytriton's ``@batch`` does: it gathers the inputs
of all requests, makes one call over the concatenation, and splits the results back, so a dynamic batch
of many requests (each with several images) costs one vectorised call. A request whose input is bad
gets its own ``INVALID_ARG`` error; the others still get their answers.

A step that does not finish within its ``execute_timeout_s`` (config parameter, default 60 s) answers
every request of the batch with ``UNAVAILABLE`` instead of blocking forever, then ends its own stub
process: Triton 2.51 does not restart a dead or stuck stub, and the server's watchdog
(:mod:`rawvision.server.watchdog`) reloads the model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import triton_python_backend_utils as pb_utils

from rawvision.errors import DependencyError, InputError
from rawvision.repository import json_parameters

LOGGER = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
DEFAULT_EXECUTE_TIMEOUT_S = 60.0
_EXIT_CODE_HUNG = 70
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rawvision-execute")


class ModelArgs:
    """The ``args`` Triton passes to ``initialize``, read once."""

    def __init__(self, args: Mapping[str, str]) -> None:
        self.config: dict[str, Any] = json.loads(args["model_config"])
        self.parameters = json_parameters(self.config)
        self.model_dir = Path(args["model_repository"])
        self.version = str(args["model_version"])
        self.name = str(args.get("model_name", self.config.get("name", "")))

    @property
    def input_names(self) -> list[str]:
        """Input tensor names, in config order."""
        return [str(i["name"]) for i in self.config["input"]]

    @property
    def output_names(self) -> list[str]:
        """Output tensor names, in config order."""
        return [str(o["name"]) for o in self.config["output"]]

    def output_dtype(self, name: str) -> Any:
        """The numpy dtype the config declares for output ``name``."""
        output = pb_utils.get_output_config_by_name(self.config, name)
        return pb_utils.triton_string_to_numpy(output["data_type"])

    @property
    def execute_timeout(self) -> float:
        """Seconds one ``execute`` may take (``execute_timeout_s`` parameter)."""
        timeout = float(self.parameters.get("execute_timeout_s", DEFAULT_EXECUTE_TIMEOUT_S))
        if timeout <= 0:
            raise ValueError(f"{self.name}: execute_timeout_s must be positive, got {timeout}")
        return timeout

    def version_file(self, filename: str) -> Path:
        """A file inside this model version's folder."""
        return self.model_dir / self.version / filename


def input_array(request: Any, name: str) -> np.ndarray:
    """The named input of one request as numpy; a missing input is the client's error."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise InputError(f"input {name} is missing")
    return np.asarray(tensor.as_numpy())


Decoded = TypeVar("Decoded")


def decode_each(request: Any, name: str, load: Callable[[bytes], Decoded]) -> list[Decoded]:
    """``load`` every encoded image of the BYTES input ``name``; a bad one fails the request, naming its index."""
    payloads = input_array(request, name)
    if payloads.dtype != np.object_:
        raise InputError(f"{name} must be BYTES (encoded images), got {payloads.dtype}")
    decoded = []
    for index, payload in enumerate(payloads.reshape(-1)):
        try:
            decoded.append(load(payload))
        except InputError as exc:
            raise InputError(f"{name}[{index}]: {exc}") from None
    if not decoded:
        raise InputError(f"{name} holds no image")
    return decoded


def _batch_size(arrays: Arrays) -> int:
    sizes = {len(a) for a in arrays.values()}
    if len(sizes) != 1:
        raise InputError(f"inputs disagree on the batch size: {sorted(sizes)}")
    return sizes.pop()


def _error(message: str, code: Any) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message, code))


def execute_batched(
    requests: Sequence[Any],
    parse: Callable[[Any], Arrays],
    compute: Callable[[Arrays], Arrays],
    timeout: float = DEFAULT_EXECUTE_TIMEOUT_S,
) -> list[Any]:
    """One response per request: ``parse`` each, ``compute`` once over all good ones, split back.

    Args:
        requests: the requests Triton passed to ``execute``.
        parse: request → named arrays whose first axis is that request's batch; raises
            :class:`InputError` for bad input.
        compute: the concatenated arrays of all good requests → named output arrays, same first axis.
        timeout: seconds before the batch is answered with ``UNAVAILABLE`` and the stub process ends.
    """
    future = _worker.submit(_respond, requests, parse, compute)
    try:
        return future.result(timeout)
    except FutureTimeout:
        LOGGER.error("execute of %d request(s) exceeded %.1f s; ending this stub so it is restarted",
                     len(requests), timeout)
        end_process()
        message = f"this step did not finish within its execute timeout of {timeout:g} s; it is being restarted"
        return [_error(message, pb_utils.TritonError.UNAVAILABLE) for _ in requests]


def end_process() -> None:
    """End this stub process shortly, after the error responses have gone out."""
    threading.Timer(0.5, os._exit, args=(_EXIT_CODE_HUNG,)).start()


def _respond(requests: Sequence[Any], parse: Callable[[Any], Arrays],
             compute: Callable[[Arrays], Arrays]) -> list[Any]:
    parsed: list[Arrays | str] = []
    for request in requests:
        try:
            arrays = parse(request)
            _batch_size(arrays)
            parsed.append(arrays)
        except InputError as exc:
            parsed.append(str(exc))
    good = [p for p in parsed if isinstance(p, dict)]
    results: list[Arrays] = []
    if good:
        sizes = [_batch_size(p) for p in good]
        # One request (every request at one connection) needs no concatenation copy.
        joined = good[0] if len(good) == 1 else {key: np.concatenate([p[key] for p in good]) for key in good[0]}
        try:
            outputs = compute(joined)
        except DependencyError as exc:
            LOGGER.warning("a model this step calls failed: %s", exc)
            return [_error(p, pb_utils.TritonError.INVALID_ARG) if isinstance(p, str)
                    else _error(str(exc), pb_utils.TritonError.UNAVAILABLE) for p in parsed]
        except Exception:
            LOGGER.exception("compute failed for a batch of %d item(s)", sum(sizes))
            return [_error(p, pb_utils.TritonError.INVALID_ARG) if isinstance(p, str)
                    else _error("internal error while computing this batch", pb_utils.TritonError.INTERNAL)
                    for p in parsed]
        cuts = np.cumsum(sizes)[:-1]
        pieces = {key: np.split(value, cuts) for key, value in outputs.items()}
        results = [{key: pieces[key][i] for key in outputs} for i in range(len(good))]
    responses = []
    answers = iter(results)
    for item in parsed:
        if isinstance(item, str):
            responses.append(_error(item, pb_utils.TritonError.INVALID_ARG))
        else:
            tensors = [pb_utils.Tensor(name, value) for name, value in next(answers).items()]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
    return responses
