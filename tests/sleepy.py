"""Requests to the test model ``sleepy`` (tests/models/sleepy), which sleeps as long as asked."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def sleep_request(url: str, seconds: float) -> tuple[int, dict[str, str], str]:
    """POST one ``sleepy`` request over HTTP to ``url`` (``host:port``); (status, headers, body)."""
    body = json.dumps({"inputs": [{"name": "SECONDS", "shape": [1, 1], "datatype": "FP32", "data": [seconds]}]})
    request = urllib.request.Request(f"http://{url}/v2/models/sleepy/infer", body.encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()
