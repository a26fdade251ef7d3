"""Every rule over every stage of a baseline and a candidate, in one list of findings."""

from __future__ import annotations

from reliability.checks.base import failed, skipped
from reliability.compare import latency, rules
from reliability.compare.findings import Finding
from reliability.compare.runs import Side

RULES = (rules.new_failures, rules.wrong_verdicts, rules.ie_rate, rules.more_leftovers)


def compare(baseline: Side, candidate: Side) -> list[Finding]:
    """Every finding, stage by stage (in the candidate's order of stage names)."""
    stages = sorted(set(baseline.runs) | set(candidate.runs))
    both = [s for s in stages if s in baseline.runs and s in candidate.runs]
    timing = {s: latency.groups(baseline.runs[s].history, candidate.runs[s].history) for s in both}
    all_groups = sum(len(found) for found, _ in timing.values())
    out: list[Finding] = []
    for stage in stages:
        if stage not in candidate.runs:  # measured less than the release it replaces: not a pass
            name = f"{stage}: run in the candidate as in the baseline"
            message = f"the baseline ran {stage} ({baseline.runs[stage].history.run_dir}); the candidate has no run of it"
            out.append(Finding(stage, "missing", failed(name, message)))
            continue
        if stage not in baseline.runs:
            name = f"{stage}: compared with the baseline"
            out.append(
                Finding(
                    stage, "missing", skipped(name, f"the baseline has no run of {stage}: nothing to compare")
                )
            )
            continue
        base, cand = baseline.runs[stage], candidate.runs[stage]
        found, not_compared = timing[stage]
        out.append(latency.slowdown(stage, found, not_compared, base.history.seed, all_groups))
        out.append(latency.throughput(stage, base.history, cand.history, stages=len(both)))
        out += [rule(stage, base, cand) for rule in RULES]
    return out
