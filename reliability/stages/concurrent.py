"""Concurrent execution stress (QA-REL-001 section 2): 100+ executions in flight at 1000+ a minute.

Why this workload on a 2-core host: 100 CPU-bound runs at once would only measure the scheduler (each
gets 1/50 of a core and the wall limits, not the sandbox, decide the verdicts). So most runs are
wall-clock bound (a 4 s nap, then an answer, C++ and Python) and keep 100+ boxes busy at once, while a
share of CPU-bound OK programs and fast runtime errors keeps the cores contended and the verdicts
varied. Java is left out: 100 JVMs at once would measure the host's memory, not the sandbox.
Little's law sets the nap: in flight = rate x time a worker holds its box (init, run, cleanup), and 2
cores finish some 20-25 runs a second (each costs ~48 ms of kernel time: forks, namespaces, tmpfs mount,
cgroups, /proc scans in cleanup; measured at quick size), so 100+ in flight needs ~5 s runs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

from reliability.checks import cleanup, completeness, concurrency, leaks, verdicts
from reliability.profiles import Sizes
from reliability.stages.base import Stage, StageContext, submissions
from reliability.workload import catalog, generator
from reliability.workload.submission import Submission

# Program ids and their share of each block of 20 submissions (the order is shuffled per block).
BLOCK = (
    ("cpp/ok_nap", 8),
    ("python/ok_nap", 7),
    ("cpp/ok_sum", 1),
    ("cpp/ok_sieve", 1),
    ("python/ok_sum", 1),
    ("cpp/re_segv", 1),
    ("python/re_exit", 1),
)


SIZES = {
    "smoke": Sizes(submissions=200, concurrency=100, ranges="fast", min_rate_per_min=600, watchdog_s=30),
    "preprod": Sizes(submissions=120, concurrency=40, ranges="fast", min_rate_per_min=300, watchdog_s=30),
    "quick": Sizes(submissions=3000, concurrency=110, min_rate_per_min=1000, watchdog_s=60),
    "release": Sizes(submissions=30_000, duration_s=1800, concurrency=110, min_rate_per_min=1000),
}


def workload(ctx: StageContext) -> Iterator[Submission]:
    """Endless, seeded: the first n items are the same for a seed, so a cut run resumes exactly."""
    rng = random.Random(ctx.seed)
    ranges = generator.ranges_preset(ctx.sizes.ranges)
    block = [catalog.get(pid) for pid, share in BLOCK for _ in range(share)]
    index = 0
    while True:
        order = list(block)
        rng.shuffle(order)
        for program in order:
            limits = generator.draw_limits(rng, ranges, program.ending)
            if program.name == "ok_nap":  # the drawn wall limit is for the program's work, after its nap
                limits = replace(limits, wall_s=round(limits.wall_s + 2 * catalog.NAP_S, 2))
            yield Submission(index, program.id, program.language, program.expected, program.ending, limits)
            index += 1


STAGE = Stage(
    name="concurrent",
    title="Concurrent execution stress (QA-REL-001 section 2)",
    sizes=SIZES,
    workload=workload,
    planned=submissions,
    checks=(verdicts.check, completeness.check, concurrency.check, cleanup.check, leaks.check),
)
