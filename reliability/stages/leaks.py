"""Leak detection (QA-REL-001 section 6): many executions across the four endings, then zero leaks."""

from __future__ import annotations

from reliability.checks import cleanup, completeness, leaks, verdicts
from reliability.stages.base import Stage
from reliability.workload import generator

STAGE = Stage(
    name="leaks",
    title="Leak detection (QA-REL-001 section 6)",
    workload=lambda seed, sizes: iter(
        generator.generate_endings(seed, sizes.iterations, ranges=generator.ranges_preset(sizes.ranges))
    ),
    enough=lambda sizes, fed, elapsed: fed >= sizes.iterations,
    checks=(verdicts.check, completeness.check, cleanup.check, leaks.check),
)
