"""Prometheus metrics of a run, named as in QA-REL-001 so the plan's PromQL works as written.

One private CollectorRegistry per run (never the global one), fed live by the runner's on_done hook;
served over HTTP on 127.0.0.1 during the run, written as a node_exporter textfile at the end of each
stage, and pushed to a Pushgateway when asked.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    push_to_gateway,
    start_http_server,
    write_to_textfile,
)

from reliability import probes
from reliability.errors import UsageError
from reliability.history import History
from reliability.runner import Runner
from reliability.targets.base import VERDICTS, CleanupOutcome, Owned, Result
from reliability.workload.submission import Submission

DEFAULT_PREFIX = "rustbox"
LEAK_KINDS = ("processes", "mounts", "cgroups", "fds", "temp_dirs", "zombies")
# From a trivial run (tens of ms) to the longest wall limit the generator draws (60 s).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, float("inf"))


def check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", prefix):
        raise UsageError(
            f"--metrics-prefix must be a Prometheus name ([a-zA-Z_][a-zA-Z0-9_]*), got {prefix!r}"
        )
    return prefix


class RunMetrics:
    def __init__(self, prefix: str = DEFAULT_PREFIX):
        p = check_prefix(prefix)
        self.registry = CollectorRegistry()
        r = self.registry
        self.executions = Counter(f"{p}_executions", "Executions finished (run and cleaned up)", registry=r)
        # A gauge, not a Counter: a Counter would be exposed as ..._by_status_total, and the plan's PromQL
        # reads <p>_executions_by_status{status="IE"}. It only ever grows, so rate() over it is sound.
        self.by_status = Gauge(f"{p}_executions_by_status", "Executions by verdict", ["status"], registry=r)
        self.cleanups = Counter(f"{p}_cleanup", "Cleanups by outcome", ["outcome"], registry=r)
        self.health = Gauge(f"{p}_worker_health", "Workers (boxes) by health", ["status"], registry=r)
        self.duration = Histogram(
            f"{p}_execution_duration_seconds", "Wall time of a run", buckets=DURATION_BUCKETS, registry=r
        )
        self.queue_depth = Gauge(f"{p}_queue_depth", "Submissions queued, not yet started", registry=r)
        self.in_flight = Gauge(f"{p}_executions_in_flight", "Executions running now", registry=r)
        self.leaked = Gauge(
            f"{p}_leaked_resources", "Leaked resources at the end of the stage", ["kind"], registry=r
        )
        for v in VERDICTS:
            self.by_status.labels(status=v).set(0)
        for outcome in ("success", "failure"):
            self.cleanups.labels(outcome=outcome)
        self._box_ok: dict[int, bool] = {}

    def bind(self, runner: Runner) -> None:
        """Queue depth and in-flight read live from the runner at scrape time; every box starts healthy."""
        self.queue_depth.set_function(runner.queue_depth)
        self.in_flight.set_function(lambda: runner.stats.in_flight)
        self._box_ok = {box: True for box in runner.boxes}
        self._update_health()

    def observe(self, sub: Submission, result: Result, outcome: CleanupOutcome, seconds: float) -> None:
        """The runner's on_done hook: one finished execution."""
        self.executions.inc()
        self.by_status.labels(status=result.verdict).inc()
        self.cleanups.labels(outcome="success" if outcome.ok else "failure").inc()
        self.duration.observe(seconds)
        self._box_ok[sub.box] = outcome.ok  # a box whose last cleanup failed is not fit to run
        self._update_health()

    def _update_health(self) -> None:
        healthy = sum(self._box_ok.values())
        self.health.labels(status="healthy").set(healthy)
        self.health.labels(status="unhealthy").set(len(self._box_ok) - healthy)

    def record_leaks(self, history: History) -> None:
        """Leak gauges from the history's before/after snapshots; absent (not zero) when not measured."""
        snaps = history.snapshots
        if "before" not in snaps or "after" not in snaps:
            return
        start = history.stage_start
        try:
            leaks = probes.diff(
                snaps["before"], snaps["after"], Owned.from_dict(start["owned"]), start["pipeline_pid"]
            )
        except (UsageError, KeyError, TypeError, ValueError):
            return  # the leaks check reports a damaged snapshot; a gauge must not claim zero
        for kind in LEAK_KINDS:
            self.leaked.labels(kind=kind).set(len(getattr(leaks, kind)))

    def serve(self, port: int):
        """Serve /metrics on 127.0.0.1:port; return the server (call .shutdown() to stop it)."""
        try:
            server, _ = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as exc:
            raise _port_error(port, exc) from None
        return server

    def write_textfile(self, path: Path) -> Path:
        write_to_textfile(str(path), self.registry)  # atomic: written aside, then renamed
        return path

    def push(self, url: str, job: str) -> None:
        push_to_gateway(url, job=job, registry=self.registry, timeout=10)


def check_port(port: int | None) -> None:
    """The metrics port is free now, before a run directory exists (serve() may still lose a race)."""
    if port is None:
        return
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server will
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        raise _port_error(port, exc) from None
    finally:
        probe.close()


def _port_error(port: int, exc: OSError) -> UsageError:
    return UsageError(f"--metrics-port {port}: cannot listen on 127.0.0.1: {exc.strerror or exc}")
