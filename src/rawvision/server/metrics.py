"""Read Triton's Prometheus metrics (``http://host:8002/metrics``) into plain samples.

The text format is simple enough for a small parser: ``name{label="value",...} number`` per line,
``#`` lines for help and type. Used by tests, the bench report and the scale-out test (which server
answered how many requests).
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    """One metric sample: its name, labels and value."""

    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    """Parse Prometheus text exposition format; raises ``ValueError`` on a line it cannot read."""
    samples = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"metrics line {number} is not in Prometheus text format: {line!r}")
        labels = {m["key"]: m["value"].replace('\\"', '"').replace("\\\\", "\\")
                  for m in _LABEL.finditer(match["labels"] or "")}
        samples.append(Sample(match["name"], labels, float(match["value"])))
    return samples


def scrape(url: str, timeout: float = 10.0) -> list[Sample]:
    """Fetch and parse ``url`` (e.g. ``http://127.0.0.1:8002/metrics``)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return parse(response.read().decode("utf-8"))


def value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels`` (0 when there is none)."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def per_model(samples: Iterable[Sample], name: str) -> dict[str, float]:
    """``model → value of name`` summed over versions."""
    totals: dict[str, float] = {}
    for sample in samples:
        if sample.name == name and "model" in sample.labels:
            totals[sample.labels["model"]] = totals.get(sample.labels["model"], 0.0) + sample.value
    return totals
