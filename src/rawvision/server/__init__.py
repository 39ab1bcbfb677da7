"""Code that runs and controls a Triton server: the embedded server, watchdog, model control, metrics, front door."""
