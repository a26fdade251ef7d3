"""Leak detection (QA-REL-001 section 6): many executions across the four endings, then zero leaks."""

from __future__ import annotations

from reliability.checks import cleanup, completeness, leaks, verdicts
from reliability.profiles import Sizes
from reliability.stages.base import Stage, StageContext
from reliability.workload import generator

SIZES = {  # iterations = executions across the four endings
    "smoke": Sizes(iterations=40, concurrency=2, ranges="fast"),
    "preprod": Sizes(iterations=40, concurrency=2, ranges="fast"),
    "quick": Sizes(iterations=200, concurrency=4),
    "release": Sizes(iterations=1000, concurrency=4),
}


def workload(ctx: StageContext):
    ranges = generator.ranges_preset(ctx.sizes.ranges)
    return iter(generator.generate_endings(ctx.seed, ctx.sizes.iterations, ranges=ranges))


STAGE = Stage(
    name="leaks",
    title="Leak detection (QA-REL-001 section 6)",
    sizes=SIZES,
    workload=workload,
    checks=(verdicts.check, completeness.check, cleanup.check, leaks.check),
)
