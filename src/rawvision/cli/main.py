"""The ``rawvision`` command: serve, export, train, classify, detect, samples and demo, each a thin wrapper."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rawvision.cli.detect import add_detect_parser
from rawvision.cli.export import add_export_parser
from rawvision.cli.front import add_front_parser
from rawvision.cli.health import add_health_parser
from rawvision.cli.models import add_models_parser
from rawvision.cli.pipelines import add_pipeline_parsers
from rawvision.cli.train import add_train_parser
from rawvision.client import folder_client
from rawvision.server.control import admin_key_from_env

DEFAULT_REPOSITORY = Path("model_repository")


def _serve(args: argparse.Namespace) -> int:
    from rawvision.pipelines.admission import repository_gate
    from rawvision.repository import ensemble_names
    from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
    from rawvision.server.supervisor import GaveUp, RestartPolicy, Supervisor
    from rawvision.server.warmup_stats import model_stats, step_warmups, summary

    triton_http = (args.triton_http_port or free_ports(1)[0]) if args.gate else args.http_port
    options = ServerOptions(repository=args.repository, http_port=triton_http, grpc_port=args.grpc_port,
                            metrics_port=args.metrics_port, model_control_mode=args.model_control_mode,
                            load_models=tuple(args.load_model), admin_key=args.admin_key,
                            extra_args=tuple(args.triton_arg))
    gate = repository_gate(args.repository, options.host, args.http_port, args.timeout) if args.gate else None
    public = f"{options.host}:{args.http_port}"
    policy = RestartPolicy(initial_backoff=args.restart_backoff, max_backoff=args.max_restart_backoff,
                           max_crashes=args.max_crashes, window=args.crash_window)
    supervisor = Supervisor(options, policy, sink=sys.stderr.buffer, start_timeout=args.timeout,
                            stop_timeout=args.stop_timeout, metrics_port=args.supervisor_port or None, gate=gate)

    def ready(server: EmbeddedServer, seconds: float, restarts: int) -> None:
        if restarts:
            print(f"Triton ready again after restart {restarts}, {seconds:.1f} s after its start", flush=True)
            return
        print(f"Triton ready: HTTP http://{public}  gRPC {options.grpc_url}  "
              f"metrics http://{options.host}:{options.metrics_port}/metrics  (Ctrl-C stops)", flush=True)
        print(f"started in {seconds:.1f} s (start-up and warm-up); "
              f"{summary(step_warmups(model_stats(options.http_url)))}", flush=True)
        if gate is not None:
            pipelines = set(ensemble_names(args.repository))
            bounds = ", ".join(f"{name} {bound}" for name, bound in gate.admission.pipelines if name in pipelines)
            print(f"admission gate on {public} (Triton's own HTTP on {options.http_url}): in flight at most "
                  f"{bounds} (each step its pipeline's bound); beyond that 503 + Retry-After", flush=True)
        print(f"the page: in another shell, RAWVISION_API_KEY=<a key of 8+ characters> rawvision front --upstream "
              f"{public}, then open https://localhost:8443/ and enter that key", flush=True)

    try:
        supervisor.run(ready)
    except GaveUp as exc:
        print(f"rawvision serve: {exc}", file=sys.stderr, flush=True)
        return 3
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from rawvision.cli.evaluate import run_evaluate

    return run_evaluate(args)


def _ocr(args: argparse.Namespace) -> int:
    from rawvision.client import ocr_client

    try:
        lines = ocr_client.read_text(args.image.read_bytes(), args.url, args.model, args.grpc)
    except (ocr_client.OcrError, OSError) as exc:
        print(f"{args.image}: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    if args.annotate:
        from PIL import Image

        from rawvision.ocr.annotate import annotate

        with Image.open(args.image) as image:
            annotate(image, [line.box for line in lines], [line.text for line in lines]).save(args.annotate)
        print(f"wrote {args.annotate}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    if args.out is None:
        if any(path.is_dir() for path in args.images):
            print("error: give --out results.jsonl|.csv to classify a folder", file=sys.stderr)
            return 2
        from rawvision.client import classify_client

        argv = [*map(str, args.images), "--url", args.url, "--model", args.model]
        if args.plot:
            argv += ["--plot", str(args.plot)]
        return classify_client.main(argv)
    return folder_client.run(args.images, args.out, args)


def _samples(args: argparse.Namespace) -> int:
    from rawvision.export.datasets import test_set
    from rawvision.testing.samples import write_samples

    images, labels, names = test_set(args.dataset, args.data)
    paths = write_samples(images, labels, names, args.out, args.count, args.format)
    print(f"wrote {len(paths)} {args.format} files to {args.out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from rawvision.cli.demo import run_demo

    return run_demo(args.repository, args.out)


def _bench_peers(args: argparse.Namespace) -> int:
    from rawvision.loadtest.perf.hey import HeyError
    from rawvision.loadtest.perf.peers import run_peers
    from rawvision.loadtest.perf.peers_report import summary_table
    from rawvision.loadtest.perf.pinning import UNPINNED, available_cores, split
    from rawvision.loadtest.perf.side_by_side import CheckError, Settings

    settings = Settings(connections=tuple(args.connections), requests_per_image=args.requests,
                        typical_requests=args.typical_requests, seconds_per_row=args.seconds_per_row, grpc=args.grpc,
                        perf_analyzer_prefix=args.prefix, pin=split(available_cores()) if args.pin else UNPINNED)
    try:
        report, results = run_peers(args.repository, args.out, args.ensemble or None, settings, args.note)
    except (CheckError, HeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary_table(results)))
    print(f"wrote {report} and {report.parent / 'perf-peers.png'}")
    failures = sum(row.failures for result in results for row in result.rows)
    if failures:
        print(f"error: {failures} responses were not HTTP 200 (see the non-200 column)", file=sys.stderr)
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.peers:
        return _bench_peers(args)
    from rawvision.loadtest.perf.analyzer import PerfAnalyzerError
    from rawvision.loadtest.perf.run import run_bench

    concurrency = range(args.concurrency[0], args.concurrency[1] + 1, args.concurrency[2])
    try:
        report = run_bench(args.repository, args.out, args.ensemble or None, list(concurrency), args.prefix,
                           args.perf_analyzer, args.seconds, args.note)
    except PerfAnalyzerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report} and {report.with_suffix('.png')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="rawvision", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the embedded Triton server on a model repository")
    serve.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    serve.add_argument("--http-port", type=int, default=8000)
    serve.add_argument("--grpc-port", type=int, default=8001)
    serve.add_argument("--metrics-port", type=int, default=8002)
    serve.add_argument("--model-control-mode", choices=["none", "poll", "explicit"], default="explicit")
    serve.add_argument("--load-model", action="append", default=[],
                       help="with explicit mode; repeatable (default: every model)")
    serve.add_argument("--admin-key", default=admin_key_from_env(),
                       help="require this key for load/unload/index (default: $RAWVISION_ADMIN_KEY)")
    serve.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for readiness")
    serve.add_argument("--stop-timeout", type=float, default=30.0,
                       help="seconds a stop waits for a graceful shutdown before it kills the server")
    serve.add_argument("--restart-backoff", type=float, default=0.5,
                       help="seconds before the first restart after a crash; doubles per crash in the window")
    serve.add_argument("--max-restart-backoff", type=float, default=10.0)
    serve.add_argument("--max-crashes", type=int, default=5,
                       help="give up (exit code 3) after this many crashes within --crash-window seconds")
    serve.add_argument("--crash-window", type=float, default=300.0)
    serve.add_argument("--triton-arg", action="append", default=[], metavar="ARG",
                       help="one more tritonserver argument, repeatable, e.g. "
                       "--triton-arg=--backend-config=python,shm-default-byte-size=16777216")
    serve.add_argument("--gate", action=argparse.BooleanOptionalAction, default=True,
                       help="an nginx admission gate on --http-port (per-pipeline in-flight bounds, "
                       "503 + Retry-After), Triton's own HTTP behind it on --triton-http-port; "
                       "--no-gate: Triton on --http-port")
    serve.add_argument("--triton-http-port", type=int, default=0,
                       help="Triton's own HTTP port behind the gate (default: a free one)")
    serve.add_argument("--supervisor-port", type=int, default=8003,
                       help="port of the supervisor's own /metrics (restarts, crashes); 0: none")
    serve.set_defaults(run=_serve)

    add_models_parser(commands)

    bench = commands.add_parser("bench", help="perf_analyzer on every ensemble + in-process and two-call "
                                "baselines → docs/perf-analyzer.md; with --peers, each classifier against a "
                                "FastAPI peer and the no-network limit → docs/perf.md")
    bench.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    bench.add_argument("--out", type=Path, default=Path("docs"))
    bench.add_argument("--ensemble", "--models", action="append", default=[],
                       help="repeatable; default: every ensemble (with --peers: every classifier and detector, "
                       "e.g. --models faces for the faces rows alone)")
    bench.add_argument("--concurrency", type=int, nargs=3, default=[1, 8, 1], metavar=("START", "END", "STEP"))
    bench.add_argument("--perf-analyzer", type=Path, help="the binary (default: .tools/perf_analyzer/bin/...)")
    bench.add_argument("--prefix", help="command prefix for an old glibc, e.g. ../shared/tools/with-glibc-2.41 "
                       "(default: $RAWVISION_PERF_ANALYZER_PREFIX)")
    bench.add_argument("--seconds", type=float, default=5.0, help="per in-process setting")
    bench.add_argument("--note", default="", help="a sentence for the report's header")
    bench.add_argument("--peers", action="store_true", help="side by side: limit, FastAPI peer and ensemble "
                       "driven by hey → docs/perf.md and docs/perf-peers.png")
    bench.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16], help="with --peers")
    bench.add_argument("--requests", type=int, default=16,
                       help="with --peers: hey requests per image per run on the mixed sets")
    bench.add_argument("--typical-requests", type=int, default=200,
                       help="with --peers: hey requests per run on the typical image")
    bench.add_argument("--seconds-per-row", type=float, default=3.0,
                       help="with --peers: at least as many requests per row as the limit answers in this time")
    bench.add_argument("--no-grpc", dest="grpc", action="store_false",
                       help="with --peers: skip the perf_analyzer gRPC rows")
    bench.add_argument("--no-pin", dest="pin", action="store_false",
                       help="with --peers: do not pin (default: the services on every core but the last, hey on "
                       "the last, with taskset)")
    bench.set_defaults(run=_bench)

    add_export_parser(commands, DEFAULT_REPOSITORY)
    add_front_parser(commands, DEFAULT_REPOSITORY)
    add_health_parser(commands)
    add_pipeline_parsers(commands, DEFAULT_REPOSITORY)
    add_train_parser(commands, DEFAULT_REPOSITORY)

    classify = commands.add_parser("classify", help="send image files (print top-k), or whole folders with "
                                   "--out, to a running server")
    classify.add_argument("images", nargs="+", type=Path, metavar="DIR_OR_FILES")
    classify.add_argument("--url", default="localhost:8000", help="host:port (the gRPC port with --grpc)")
    classify.add_argument("--model", default="mnist")
    classify.add_argument("--plot", type=Path, help="also write a bar chart of the top probabilities (PNG)")
    classify.add_argument("--out", type=Path, help="results.jsonl or .csv: the folder client (async, batched, "
                          "resumable; client/folder_client.py)")
    folder_client.add_options(classify)
    classify.set_defaults(run=_classify)

    add_detect_parser(commands)

    ocr = commands.add_parser("ocr", help="read the text in a photo with a running server (one call)")
    ocr.add_argument("image", type=Path)
    ocr.add_argument("--url", default="localhost:8000")
    ocr.add_argument("--grpc", action="store_true", help="use gRPC (give the gRPC port in --url)")
    ocr.add_argument("--model", default="ocr")
    ocr.add_argument("--annotate", type=Path, help="write the picture with boxes and text drawn on it")
    ocr.set_defaults(run=_ocr)

    samples = commands.add_parser("samples", help="write held-out digits as image files named by class")
    samples.add_argument("--out", type=Path, default=Path("samples"))
    samples.add_argument("--count", type=int, default=10)
    samples.add_argument("--format", choices=["PNG", "JPEG"], default="PNG")
    samples.add_argument("--data", type=Path)
    samples.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    samples.set_defaults(run=_samples)

    evaluate = commands.add_parser("evaluate", help="accuracy and speed of an ensemble on a whole test set, "
                                   "images sent as encoded files")
    evaluate.add_argument("--model", default="fashion_mnist", help="ensemble name")
    evaluate.add_argument("--url", default="localhost:8000", help="a running server; see --serve")
    evaluate.add_argument("--serve", action="store_true", help="start the embedded server for this run")
    evaluate.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    evaluate.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="default: from the model name")
    evaluate.add_argument("--data", type=Path, help="folder with the data set's idx files")
    evaluate.add_argument("--count", type=int, help="first N test images (default: all)")
    evaluate.add_argument("--format", choices=["PNG", "JPEG"], default="PNG")
    evaluate.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    evaluate.add_argument("--batch", type=int, default=8, help="images per request")
    evaluate.add_argument("--no-json-way", dest="json_way", action="store_false",
                          help="skip timing the JSON-floats way (preprocess here, floats to the core model)")
    evaluate.set_defaults(run=_evaluate)

    demo = commands.add_parser("demo", help="start the server, send samples through every pipeline, stop")
    demo.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    demo.add_argument("--out", type=Path, default=Path("samples"))
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rawvision`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
