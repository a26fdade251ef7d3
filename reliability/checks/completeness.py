"""Completeness: every submission was accounted for, the run reached its end, and what was not measured shows.

A skipped submission (a missing toolchain) is recorded by a skip event instead of a submission event, so
an index is accounted for by exactly one result or exactly one skip.
"""

from __future__ import annotations

from collections import defaultdict

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

COMPLETED = "all executions completed"
FINISHED = "run finished"
LANGUAGES = "languages covered"


def check(history: History) -> list[CheckResult]:
    return [_completed(history), _finished(history), _languages(history)]


def _completed(history: History) -> CheckResult:
    results = history.count_by_index("result")
    skips = history.count_by_index("skip")
    wanted = set(history.submissions) | set(skips)
    if not wanted:
        return failed(COMPLETED, "no submissions in the history: nothing was executed")
    problems = []
    for index in sorted(wanted | set(results)):
        n_results, n_skips = results[index], skips[index]
        if index not in wanted:
            problems.append(f"index {index}: {n_results} result(s) for a submission never recorded")
        elif n_results + n_skips == 0:
            problems.append(f"index {index} {_program(history, index)}: no result")
        elif n_results + n_skips > 1:
            problems.append(f"index {index} {_program(history, index)}: {n_results} results, {n_skips} skips")
    if problems:
        return failed(
            COMPLETED, f"{len(problems)} of {len(wanted)} submissions not completed exactly once", problems
        )
    return passed(COMPLETED, f"{len(wanted)} submissions, each with one result or skip")


def _program(history: History, index: int) -> str:
    if index in history.submissions:
        sub = history.submissions[index]
        return f"({sub.label}, {sub.language})"
    skip = history.skips.get(index)
    return f"({skip['program']}, {skip['language']})" if skip else ""


def _finished(history: History) -> CheckResult:
    cut = ["the history's last line was cut mid-write and dropped"] if history.truncated else []
    end = history.stage_end
    if end is None:
        return failed(FINISHED, "the run was cut short: the history has no stage_end", cut)
    if end["interrupted"]:
        return failed(
            FINISHED, f"the run was cut short: interrupted after {end['executions']} executions", cut
        )
    return passed(FINISHED, f"{end['executions']} executions in {end['duration_s']:.1f} s", cut)


def _languages(history: History) -> CheckResult:
    skip_events = history.of_type("skip")
    ran = sorted(
        {
            history.submissions[r["index"]].language
            for r in history.of_type("result")
            if r["index"] in history.submissions
        }
    )
    if not ran:
        if skip_events:
            return failed(
                LANGUAGES,
                f"every submission was skipped ({len(skip_events)}): nothing was measured",
                _skip_lines(skip_events),
            )
        return failed(LANGUAGES, "no language ran: nothing was measured")
    if skip_events:
        lines = _skip_lines(skip_events)
        return skipped(LANGUAGES, f"{'; '.join(lines)} (ran: {', '.join(ran)})", lines)
    return passed(LANGUAGES, f"ran {', '.join(ran)}")


def _skip_lines(skip_events: list[dict]) -> list[str]:
    """One line per (language, reason): a missing toolchain skips hundreds of submissions for one cause."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for e in skip_events:
        counts[(e["language"], e["reason"])] += 1
    return [f"{lang}: {n} skipped: {reason}" for (lang, reason), n in sorted(counts.items())]
