"""Long-run stress (QA-REL-001 section 1): a seeded mix of outcomes, languages and limits, run continuously."""

from __future__ import annotations

from reliability.checks import cleanup, completeness, degradation, leaks, soak, verdicts
from reliability.profiles import Sizes
from reliability.stages.base import Stage, StageContext, submissions
from reliability.workload import generator

SIZES = {
    "smoke": Sizes(submissions=60, concurrency=2, ranges="fast"),
    "preprod": Sizes(submissions=100, concurrency=2, ranges="fast"),
    "quick": Sizes(submissions=400, concurrency=4),
    # The plan asks for both: 10,000+ submissions and 1 hour minimum (the default `enough` waits for both).
    "release": Sizes(submissions=10_000, duration_s=3600, concurrency=4),
    # QA-REL-001 soak: 7 days at 1000 submissions an hour, mix 70/20/5/5 (the stress mix); resumable.
    "soak": Sizes(submissions=168_000, duration_s=7 * 24 * 3600, concurrency=4, pace_per_min=1000 / 60),
}


def workload(ctx: StageContext):
    return generator.stream(ctx.seed, ranges=generator.ranges_preset(ctx.sizes.ranges))


STAGE = Stage(
    name="stress",
    title="Long-run stress (QA-REL-001 section 1)",
    sizes=SIZES,
    workload=workload,
    planned=submissions,
    checks=(verdicts.check, completeness.check, cleanup.check, leaks.check, degradation.check, soak.check),
)
