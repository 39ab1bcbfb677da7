"""CPU time of processes from ``/proc/<pid>/stat`` (user + system), and their children by parent id."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the bench needs (times in seconds)."""

    pid: int
    name: str
    ppid: int
    cpu_seconds: float


def parse_stat(text: str, ticks_per_second: int) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line; the name sits in parentheses and may hold spaces or ``)``."""
    head, _, tail = text.rpartition(")")
    pid_text, _, name = head.partition(" (")
    fields = tail.split()
    if len(fields) < 13:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    # After the name: state(0) ppid(1) ... utime(11) stime(12), in clock ticks.
    utime, stime = int(fields[11]), int(fields[12])
    return ProcStat(int(pid_text), name, int(fields[1]), (utime + stime) / ticks_per_second)


def ticks() -> int:
    """Clock ticks per second (``SC_CLK_TCK``)."""
    return os.sysconf("SC_CLK_TCK")


def stat(pid: int, proc: Path = PROC) -> ProcStat:
    """The current stat of ``pid``; raises ``FileNotFoundError`` once it has been reaped."""
    return parse_stat((proc / str(pid) / "stat").read_text(encoding="utf-8", errors="replace"), ticks())


def cmdline(pid: int, proc: Path = PROC) -> list[str]:
    """The command line of ``pid`` as a list (empty if it is gone)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children(pid: int, proc: Path = PROC) -> list[int]:
    """Live direct children of ``pid``, found by scanning ``/proc/*/stat`` for their parent id."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if stat(int(entry.name), proc).ppid == pid:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return sorted(found)


def stub_name(args: list[str]) -> str | None:
    """A Triton Python stub's instance (``mnist_onnx_0_0``) or model, from its command line, else ``None``.

    The stub is started as ``triton_python_backend_stub .../<model>/<version>/<file>.py … <instance> …``.
    """
    for arg in args:
        path = Path(arg)
        if path.suffix == ".py" and len(path.parts) >= 3 and path.parent.name.isdigit():
            model = path.parent.parent.name
            return next((a for a in args if a.startswith(f"{model}_") and a[len(model) + 1:][:1].isdigit()), model)
    return None


def snapshot(pids: Mapping[str, int], proc: Path = PROC) -> dict[str, float]:
    """CPU seconds so far of each named process (gone processes are left out)."""
    times = {}
    for name, pid in pids.items():
        try:
            times[name] = stat(pid, proc).cpu_seconds
        except (FileNotFoundError, ProcessLookupError):
            continue
    return times


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots (processes present in both)."""
    return {name: after[name] - before[name] for name in after if name in before}
