"""Long-run stress (QA-REL-001 section 1): a seeded mix of outcomes, languages and limits, run continuously."""

from __future__ import annotations

from reliability.checks import cleanup, completeness, degradation, leaks, soak, verdicts
from reliability.stages.base import Stage
from reliability.workload import generator


def _enough(sizes, fed: int, elapsed: float) -> bool:
    # The plan asks for both: 10,000+ submissions and 1 hour minimum.
    return fed >= sizes.submissions and elapsed >= sizes.duration_s


STAGE = Stage(
    name="stress",
    title="Long-run stress (QA-REL-001 section 1)",
    workload=lambda seed, sizes: generator.stream(seed, ranges=generator.ranges_preset(sizes.ranges)),
    enough=_enough,
    checks=(verdicts.check, completeness.check, cleanup.check, leaks.check, degradation.check, soak.check),
)
