"""Load tests: NVIDIA's perf_analyzer against the ensembles, an in-process baseline, and a report."""
