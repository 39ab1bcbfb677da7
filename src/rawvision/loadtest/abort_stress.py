r"""Stress that may abort tritonserver (``boost::interprocess::lock_exception``, Triton #8882), and its rate.

Runs ``rawvision serve`` (supervised, so an abort is counted and the server restarted) and, for a bounded
time, drives one ensemble with concurrent large images while it hot-reloads a Python step (``--reload``)
and/or SIGKILLs that step's busy stubs (``--kill-stub``: a stub ending mid-call, as the execute-timeout
does). Prints the requests, the crashes by cause, and the lock_exception lines of the server log.

    python -m rawvision.loadtest.abort_stress --seconds 60 --reload 2 --kill-stub 3 \
        --triton-arg=--backend-config=python,shm-default-byte-size=16777216
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import psutil
import tritonclient.http as httpclient

from rawvision.repository import RESTARTS_PARAMETER
from rawvision.server.embedded import free_ports
from rawvision.server.metrics import scrape
from rawvision.server.watchdog import STUB_NAME


def ready(url: str) -> bool:
    """Whether ``host:port`` answers ``/v2/health/ready`` with 200 within 2 s."""
    try:
        with urllib.request.urlopen(f"http://{url}/v2/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stubs(serve_pid: int, model: str) -> list[psutil.Process]:
    found = []
    for process in psutil.Process(serve_pid).children(recursive=True):
        try:
            command = process.cmdline()
        except psutil.Error:
            continue
        if len(command) > 1 and Path(command[0]).name == STUB_NAME and f"/{model}/" in command[1]:
            found.append(process)
    return found


def run(args: argparse.Namespace) -> dict[str, object]:
    """One bounded stress run; returns its counts."""
    from rawvision.testing.photos import upscaled

    http, grpc, metrics, supervisor = free_ports(4)
    url = f"127.0.0.1:{http}"
    log = Path(args.log)
    command = [sys.executable, "-m", "rawvision.cli.main", "serve", "--repository", str(args.repository),
               "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
               "--supervisor-port", str(supervisor), "--load-model", args.model, "--max-crashes", "1000",
               "--restart-backoff", "0.1", *[f"--triton-arg={arg}" for arg in args.triton_arg], *args.serve_arg]
    with log.open("wb") as handle:
        serve = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    image = upscaled("chelsea", args.megapixels)
    outcomes: Counter[str] = Counter()
    halt = threading.Event()

    def load() -> None:
        client = httpclient.InferenceServerClient(url, network_timeout=120, connection_timeout=10)
        tensor = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        while not halt.is_set():
            try:
                client.infer(args.model, [tensor])
                outcomes["ok"] += 1
            except Exception:  # every failure counts; the server may be restarting
                outcomes["failed"] += 1
                halt.wait(0.1)
                client.close()
                client = httpclient.InferenceServerClient(url, network_timeout=120, connection_timeout=10)
        client.close()

    def disturb() -> None:
        rng = random.Random(8882)
        control = httpclient.InferenceServerClient(url, network_timeout=120)
        next_reload = next_kill = time.monotonic()
        count = 0
        while not halt.wait(0.1):
            now = time.monotonic()
            if args.reload and now >= next_reload and ready(url):
                count += 1
                try:
                    config = control.get_model_config(args.step)
                    # the one parameter every step accepts, changed so that the load is a real reload
                    config.setdefault("parameters", {})[RESTARTS_PARAMETER] = {"string_value": str(1000 + count)}
                    control.load_model(args.step, config=json.dumps(config))
                    outcomes["reloads"] += 1
                except Exception as exc:
                    outcomes["reload_failed"] += 1
                    print(f"reload failed: {exc}", file=sys.stderr)
                next_reload = now + args.reload
            if args.kill_stub and now >= next_kill and ready(url):
                stubs = _stubs(serve.pid, args.step)
                if stubs:
                    os.kill(rng.choice(stubs).pid, signal.SIGKILL)
                    outcomes["stub_kills"] += 1
                next_kill = now + args.kill_stub
        control.close()

    started = time.monotonic()
    try:
        while not ready(url):
            if serve.poll() is not None or time.monotonic() - started > 300:
                raise SystemExit(f"serve did not start; see {log}")
            time.sleep(0.5)
        threads = [threading.Thread(target=load) for _ in range(args.connections)] + [threading.Thread(target=disturb)]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        halt.set()
        for thread in threads:
            thread.join()
        samples = scrape(f"http://127.0.0.1:{supervisor}/metrics")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(120)
    crashes = {s.labels["cause"]: int(s.value) for s in samples if s.name == "rawvision_server_crashes_total"}
    text = log.read_text(errors="replace")
    return {"seconds": args.seconds, "connections": args.connections, "triton_args": args.triton_arg,
            **dict(outcomes), "crashes": crashes, "lock_exception_lines": text.count("lock_exception"),
            "serve_exit": serve.returncode}


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run once, print the counts as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--model", default="imagenet")
    parser.add_argument("--step", default="imagenet_preprocess", help="the Python step to reload / kill")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--megapixels", type=float, default=2.0, help="size of the photo sent")
    parser.add_argument("--reload", type=float, default=0.0, help="reload the step every N seconds (0: never)")
    parser.add_argument("--kill-stub", type=float, default=0.0, help="SIGKILL a stub of the step every N s")
    parser.add_argument("--triton-arg", action="append", default=[])
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="one more `rawvision serve` argument, e.g. --serve-arg=--no-gate: readiness is then "
                        "Triton's own, so stubs are killed whether or not the last reload finished")
    parser.add_argument("--log", default="abort-stress.log")
    print(json.dumps(run(parser.parse_args(argv))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
