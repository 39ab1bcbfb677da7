"""Which cores the measured service and the load generator get: apart, so hey's CPU is not part of the result.

On this 2-core machine: the service (tritonserver and its stubs, the uvicorn workers, the limit's processes)
on core 0, ``hey`` on core 1 (``taskset -c 1 hey …``). Children inherit the CPU mask of the thread that
starts them, so the bench pins its own main thread to the service's cores while it starts a service, and
every process the service starts later (Triton's Python stubs, uvicorn's workers) stays there too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pinning:
    """The service's cores and the load generator's cores; empty means "not pinned", anywhere."""

    service: tuple[int, ...] = ()
    load: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if set(self.service) & set(self.load):
            raise ValueError(f"service cores {self.service} and load generator cores {self.load} overlap")

    @property
    def pinned(self) -> bool:
        """True when the service and the load generator run on separate cores."""
        return bool(self.service and self.load)

    def service_cores(self, available: int) -> int:
        """How many cores the service may use: one worker or limit process per core."""
        return len(self.service) if self.pinned else available

    def describe(self) -> str:
        """A phrase for the report."""
        if not self.pinned:
            return "not pinned (service and load generator share every core)"
        return (f"service on core(s) {','.join(map(str, self.service))}, "
                f"hey on core(s) {','.join(map(str, self.load))} (`taskset -c`)")


UNPINNED = Pinning()
"""Service and load generator anywhere."""


def split(cores: Sequence[int]) -> Pinning:
    """The default split: the last core for the load generator, the others for the service (none if one core)."""
    ordered = sorted(cores)
    if len(ordered) < 2:
        return Pinning()
    return Pinning(tuple(ordered[:-1]), (ordered[-1],))


def available_cores() -> tuple[int, ...]:
    """The cores this process may run on."""
    return tuple(sorted(os.sched_getaffinity(0)))


def load_prefix(pinning: Pinning) -> list[str]:
    """The command prefix that puts the load generator on its cores (``taskset -c 1``), or nothing."""
    if not pinning.pinned:
        return []
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset (util-linux) is needed to pin hey to its core; pass --no-pin to run unpinned")
    return [taskset, "-c", ",".join(map(str, pinning.load))]


@contextlib.contextmanager
def service_cores(pinning: Pinning) -> Iterator[None]:
    """Run the block with this thread on the service's cores, so processes started in it inherit them."""
    if not pinning.pinned:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(pinning.service))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
