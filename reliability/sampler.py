"""The pipeline's own state over time, sampled into the history: queue depth, in-flight runs, fds, RSS,
the host's process and mount counts, and its busy CPU time beside the run's own.

The concurrency checks read these samples (queue bounded, fds and memory bounded, 100+ in flight), so a
run's contention is judged from its history alone, like every other check. The host counts cost a
directory listing and one read, so the report can plot the host over the whole run, not only at its
snapshots (which cost a full scan each).
"""

from __future__ import annotations

import threading

from reliability.history import Journal
from reliability.probes import host_cpu
from reliability.probes.host import count_mounts, count_processes
from reliability.probes.own import own_fds, own_rss_kb
from reliability.runner import Runner

SAMPLE_EVERY_S = 0.5
MAX_SAMPLES = 10_000  # a 7-day soak samples every minute, not 1.2 million times


def interval_for(duration_s: float) -> float:
    return max(SAMPLE_EVERY_S, duration_s / MAX_SAMPLES)


class Sampler:
    """Journals a "sample" event every `every_s` seconds from a background thread, and one at exit."""

    def __init__(self, runner: Runner, journal: Journal, every_s: float = SAMPLE_EVERY_S):
        self.runner = runner
        self.journal = journal
        self.every_s = every_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def sample(self) -> dict:
        stats = self.runner.stats
        return self.journal.append(
            "sample",
            queue_depth=self.runner.queue_depth(),
            queue_capacity=self.runner.queue_capacity,
            in_flight=stats.in_flight,
            done=stats.done,
            fds=own_fds(),
            rss_kb=own_rss_kb(),
            host_processes=count_processes(),
            host_mounts=count_mounts(),
            cpu=host_cpu.cpu_now(),  # the host's CPUs (the programs' load) and its busy time beside the run's
        )

    def _loop(self) -> None:
        while not self._done.wait(self.every_s):
            self.sample()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.sample()
