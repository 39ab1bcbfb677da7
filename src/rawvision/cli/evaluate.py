"""The ``rawvision evaluate`` command: pick the test set, optionally start a server, print the figures."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from typing import Any

from rawvision.export.datasets import DatasetName, test_set
from rawvision.loadtest.evaluate import evaluate


def dataset_for(model: str) -> DatasetName:
    """The test set an ensemble is evaluated on, by its name."""
    return "fashion-mnist" if model.startswith("fashion") else "mnist"


def print_progress(done: int, total: int) -> None:
    """``done/total`` on one stderr line, rewritten in place."""
    print(f"\r{done}/{total} images", end="\n" if done >= total else "", file=sys.stderr, flush=True)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate ``args.model`` on its test set and print the report."""
    images, labels, _ = test_set(args.dataset or dataset_for(args.model), args.data)
    if args.count:
        images, labels = images[:args.count], labels[:args.count]
    context: Any = nullcontext()
    url = args.url
    if args.serve:
        from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports

        http, grpc, metrics = free_ports(3)
        options = ServerOptions(repository=args.repository, http_port=http, grpc_port=grpc, metrics_port=metrics)
        context, url = EmbeddedServer(options), options.http_url
        print(f"starting the embedded Triton server on {url} ...", file=sys.stderr, flush=True)
    with context:
        result = evaluate(url, args.repository, args.model, images, labels, args.format, args.batch,
                          args.concurrency, args.json_way, print_progress)
    print(f"{args.model}: {len(labels)} test images sent as {args.format}, {args.batch} per request, "
          f"{args.concurrency} requests in flight")
    print(result.report())
    return 0
