"""``rawvision serve``'s admission gate: nginx on the public HTTP port, Triton's own HTTP port behind it on loopback.

Triton's HTTP front reads and parses every request before its scheduler can refuse it, and under a storm
of 1,000 connections it left some requests with no answer at all (docs/reliability.md). The gate bounds
what is in flight before the body is read (nginx ``limit_conn``, per model of the repository: its
pipeline's capacity × the admission target, ``rawvision.pipelines.admission``) and
answers every refusal at once with 503, ``Retry-After`` and "overloaded" in words; what it admits,
Triton answers within about the target. The bounds are read from the repository at start: a model added
later has the total bound only until the next start.

The gate is one nginx process (``master_process off``) under ``setpriv --pdeathsig KILL``: it dies with
``serve`` even on ``kill -9``, so nothing holds the public port after. Model-repository calls pass
through unbounded, with a read timeout long enough for a load and its warm-up. ``/v2/health/`` goes to the
supervisor's health service (``rawvision.server.health``: not ready while a step's stub is dead or a load
failed; not live while the server hangs). gRPC is not gated (it goes to Triton's own gRPC port).
"""

from __future__ import annotations

from dataclasses import dataclass

from rawvision.server.nginx import Admission, Nginx


@dataclass(frozen=True)
class Gate:
    """Where the gate listens and what it admits.

    Attributes:
        host: the public address (``serve``'s host).
        port: the public HTTP port (``serve --http-port``).
        admission: the bounds and timeouts (``rawvision.pipelines.admission.gate_admission``).
        niceness: the gate's nice value. When the CPU is short, the server's work comes first and refusals
            wait. Under a storm of 1,000 connections resending at once, refusing (a header read, a 503, the
            body drained) took about a fifth of the server's core, and goodput fell to 0.71-0.81× capacity
            at niceness 0 (4 runs); at 10 it stayed at 0.82-0.91× (10 runs; with nginx's ``multi_accept on``:
            without it the 1,000 connections of a storm's first second waited seconds to be accepted).
            docs/reliability.md.
    """

    host: str
    port: int
    admission: Admission
    niceness: int = 10

    def start(self, triton_url: str, health_url: str | None = None) -> Nginx:
        """Start the gate in front of Triton's HTTP endpoint ``triton_url`` (``host:port``).

        ``/v2/health/`` goes to ``health_url`` (a :class:`~rawvision.server.health.HealthServer`) when given.
        """
        return Nginx(self.port, [triton_url], admission=self.admission, host=self.host, single_process=True,
                     health_upstreams=[health_url] if health_url else [], niceness=self.niceness).start()
