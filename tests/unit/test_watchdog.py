from __future__ import annotations

import time

import numpy as np
import pytest

from rawvision.backend import adapters
from rawvision.server.watchdog import crashed_models, reload_candidates
from tests.fake_pb_utils import InferenceRequest, TritonError


def test_a_lost_stub_without_replacement_is_a_crash() -> None:
    before = {10: "mnist_preprocess", 11: "mnist_onnx", 12: "mnist_postprocess"}
    assert crashed_models(before, {11: "mnist_onnx", 12: "mnist_postprocess"}) == {"mnist_preprocess"}
    assert crashed_models(before, before) == set()
    reloaded = {20: "mnist_preprocess", 11: "mnist_onnx", 12: "mnist_postprocess"}
    assert crashed_models(before, reloaded) == set()  # a reload replaced the stub
    two_instances = {10: "a", 13: "a"}
    assert crashed_models(two_instances, {13: "a"}) == {"a"}


def test_a_hung_execute_answers_unavailable_and_ends_the_stub(monkeypatch: pytest.MonkeyPatch) -> None:
    ended = []
    monkeypatch.setattr(adapters, "end_process", lambda: ended.append(True))

    def slow(arrays: adapters.Arrays) -> adapters.Arrays:
        time.sleep(1.0)
        return arrays

    requests = [InferenceRequest({"x": np.ones((1, 1))}), InferenceRequest({"x": np.ones((2, 1))})]
    responses = adapters.execute_batched(requests, lambda r: {"x": adapters.input_array(r, "x")}, slow, timeout=0.1)
    assert [r.error().code() for r in responses] == [TritonError.UNAVAILABLE] * 2
    assert "execute timeout of 0.1 s" in responses[0].error().message()
    assert ended == [True]
    adapters._worker.submit(lambda: None).result()  # the abandoned call finishes before the next test


def test_a_fast_execute_is_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapters, "end_process", lambda: pytest.fail("must not end the process"))
    responses = adapters.execute_batched([InferenceRequest({"x": np.ones((3, 1))})],
                                         lambda r: {"x": adapters.input_array(r, "x")}, lambda a: a, timeout=5)
    assert responses[0].output("x").shape == (3, 1)


def test_a_load_or_a_swap_is_no_crash() -> None:
    v1 = {1: ("m", "1"), 2: ("p", "1")}
    assert reload_candidates(v1, {2: ("p", "1")}, set()) == {("m", "1")}  # a killed stub
    # a load: the short-lived stub (3) ends a look after the instance stub (4) appeared
    assert reload_candidates({2: ("p", "1"), 3: ("m", "2"), 4: ("m", "2")}, {2: ("p", "1"), 4: ("m", "2")},
                             {"m"}) == set()
    # in the same look: the new stub is there
    assert reload_candidates(v1, {2: ("p", "1"), 5: ("m", "2")}, set()) == set()
