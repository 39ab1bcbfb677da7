"""The supervisor's pure parts (backoff, give-up, causes, metrics) and debris removal on stand-in stubs."""

from __future__ import annotations

import io
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rawvision.server import debris
from rawvision.server.embedded import ServerOptions
from rawvision.server.metrics import parse, value
from rawvision.server.supervisor import RestartPolicy, Supervisor, SupervisorStats, cause_label, exit_cause

StandIns = tuple[str, str, list[subprocess.Popen[bytes]]]  # our prefix, another prefix, their stub processes


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RestartPolicy(initial_backoff=0.5, max_backoff=10.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_only_crashes_within_the_window_count() -> None:
    policy = RestartPolicy(max_crashes=5, window=300.0)
    assert policy.recent([0.0, 100.0, 350.0, 399.0], now=400.0) == 3  # 100 is exactly 300 s ago
    assert policy.recent([], now=400.0) == 0


@pytest.mark.parametrize("kwargs", [{"initial_backoff": -1.0}, {"initial_backoff": 5.0, "max_backoff": 1.0},
                                    {"max_crashes": 0}, {"window": 0.0}])
def test_a_nonsense_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]


def test_exit_causes_name_the_signal_or_the_code() -> None:
    assert exit_cause(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_cause(-signal.SIGABRT) == "killed by SIGABRT"
    assert exit_cause(1) == "exit code 1"
    assert cause_label(-signal.SIGABRT) == "SIGABRT"
    assert cause_label(2) == "exit_2"


def test_the_metrics_are_prometheus_text_the_parser_reads() -> None:
    stats = SupervisorStats(restarts=2, up=True, last_start_seconds=3.5)
    stats.crashes.update({"SIGKILL": 1, "SIGABRT": 1})
    samples = parse(stats.prometheus())
    assert value(samples, "rawvision_server_restarts_total") == 2
    assert value(samples, "rawvision_server_crashes_total", cause="SIGABRT") == 1
    assert value(samples, "rawvision_server_crashes_total") == 2
    assert value(samples, "rawvision_server_up") == 1
    stats.loaded = {"mnist": ["1"], "mnist_onnx": ["1", "2"]}
    samples = parse(stats.prometheus())
    assert value(samples, "rawvision_server_model_ready", model="mnist_onnx") == 2


def test_prefixes_are_unique_end_in_a_separator_and_carry_the_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(debris.OWNER_ENV, "abc123")
    first, second = debris.new_prefix(), debris.new_prefix()
    assert first != second
    assert first.startswith("rawvision-abc123-") and first.endswith("-")
    monkeypatch.setenv(debris.OWNER_ENV, "a/b")
    with pytest.raises(ValueError, match="letters and digits"):
        debris.owner_tag()
    with pytest.raises(ValueError, match="refusing prefix"):
        debris.regions("/")


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIns]:
    """Two 'servers' (prefixes), each with a stub-like process that ignores SIGTERM and a region file."""
    monkeypatch.setattr(debris, "SHM_DIR", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    stub = tmp_path / debris.STUB_NAME
    stub.symlink_to("/bin/sh")
    script = tmp_path / "model.py"
    script.write_text("trap '' TERM\nwhile :; do sleep 1; done\n")
    ours, theirs = debris.new_prefix(), debris.new_prefix()
    processes = []
    for prefix in (ours, theirs):
        (tmp_path / "shm" / f"{prefix}region").write_bytes(b"\0" * 4096)
        processes.append(subprocess.Popen([str(stub), str(script), f"{prefix}region"], start_new_session=True))
    yield ours, theirs, processes
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_debris_of_one_prefix_is_removed_and_nothing_else(stand_ins: StandIns) -> None:
    ours, theirs, (our_stub, their_stub) = stand_ins
    assert [p.pid for p in debris.stub_processes(ours)] == [our_stub.pid]
    removed = debris.remove_debris(ours)
    assert (removed.stubs, removed.regions, removed.region_bytes) == (1, 1, 4096)
    assert our_stub.wait(5) == -signal.SIGKILL  # it ignored SIGTERM; the removal does not rely on it
    assert debris.stub_processes(ours) == [] and debris.regions(ours) == []
    assert their_stub.poll() is None
    assert [p.pid for p in debris.stub_processes(theirs)] == [their_stub.pid]
    assert len(debris.regions(theirs)) == 1


def test_a_restart_loads_the_models_that_were_ready() -> None:
    options = ServerOptions(load_models=("mnist",))
    supervisor = Supervisor(options, sink=io.BytesIO())
    assert supervisor._options() == options  # nothing recorded yet: the options as given
    supervisor.stats.loaded = {"mnist": ["1"], "mnist_onnx": ["2"], "imagenet": ["1"]}  # e.g. imagenet loaded later
    assert supervisor._options().load_models == ("imagenet", "mnist", "mnist_onnx")
    assert Supervisor(replace(options, model_control_mode="none"), sink=io.BytesIO())._options().load_models == (
        "mnist",)


def test_the_debris_of_a_dead_owner_is_swept_and_a_living_owners_kept(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debris, "SHM_DIR", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that ran once and is gone (reaped): the owner of a `serve` killed with -9
    regions = {name: tmp_path / "shm" / f"rawvision-{name}-0a1b2c3d-region" for name in
               (str(dead.pid), str(os.getpid()), "pytest7s0")}
    for path in regions.values():
        path.write_bytes(b"\0" * 1024)
    swept = debris.sweep_dead_owners()
    assert (swept.stubs, swept.regions, swept.region_bytes) == (0, 1, 1024)
    assert not regions[str(dead.pid)].exists()
    assert regions[str(os.getpid())].exists() and regions["pytest7s0"].exists()  # alive; named by a session
