"""Load tests against a running server: soak, benchmarks (side by side, perf_analyzer, cold start), evaluate."""
