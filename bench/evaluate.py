"""Benchmark: a whole test set through an ensemble of a fresh embedded server (``rawvision evaluate --serve``).

``.venv/bin/python -m bench.evaluate [--model fashion_mnist] [--format PNG] [--concurrency 16] [--batch 8]``
prints the machine and date, then the accuracy, images/s and latency of the server ensemble, of the
same bytes in process, and of the seed's JSON-floats way, with the speed ratio.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence

import psutil

from rawvision.cli import build_parser
from rawvision.evaluate_cli import run_evaluate


def machine() -> str:
    """Cores, memory, OS and Python of this machine, and today's date (UTC)."""
    memory = psutil.virtual_memory().total / 2**30
    system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    return (f"{os.cpu_count()} cores, {memory:.0f} GiB, no GPU used, {system}, Python {platform.python_version()}, "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load average "
            f"{os.getloadavg()[0]:.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``rawvision evaluate`` options, start the server, run, print."""
    args = build_parser().parse_args(["evaluate", "--serve", *(sys.argv[1:] if argv is None else argv)])
    print(machine(), flush=True)
    return run_evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
