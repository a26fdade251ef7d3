"""Verdict correctness (QA-REL-001 section 1): every run got the verdict its program is built to get.

A run whose cleanup failed for good has verdict IE, the program's own verdict kept in raw. When the stage
injected that cleanup failure (the faults stage), the IE is the fault's expected effect, not a misjudged
verdict: the program's own verdict is judged instead. Any other IE, a real cleanup failure included,
counts as wrong.
"""

from __future__ import annotations

import shlex

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.checks.faults import injected_cleanup_failures
from reliability.history import History
from reliability.workload.submission import Submission

NAME = "all verdicts correct"


def check(history: History) -> list[CheckResult]:
    results = history.of_type("result")
    judged = [r for r in results if r["index"] in history.submissions]
    if not judged:
        return [skipped(NAME, "no results to judge: nothing ran")]
    injected = injected_cleanup_failures(history)
    wrong = [_describe(history, r) for r in judged if is_wrong(r, history.submissions[r["index"]], injected)]
    if wrong:
        return [failed(NAME, f"{len(wrong)} of {len(judged)} verdicts wrong (seed {history.seed})", wrong)]
    excused = [r for r in judged if _program_verdict(r, injected) is not None]
    note = (
        f" ({len(excused)} IE from an injected cleanup failure, judged by the program's own verdict)"
        if excused
        else ""
    )
    return [passed(NAME, f"{len(judged)} verdicts correct{note}")]


def _program_verdict(result_event: dict, injected: set[int]) -> str | None:
    """The program's own verdict of a run made IE by a cleanup failure the stage injected, else None."""
    res = result_event["result"]
    if res["verdict"] != "IE" or result_event["index"] not in injected:
        return None
    return res.get("raw", {}).get("program_verdict")


def is_wrong(result_event: dict, submission: Submission, injected: set[int] = frozenset()) -> bool:
    verdict = _program_verdict(result_event, injected) or result_event["result"]["verdict"]
    return verdict != submission.expected or result_event["stdout_ok"] is False


def _describe(history: History, result_event: dict) -> str:
    index = result_event["index"]
    sub = history.submissions[index]
    res = result_event["result"]
    lim = sub.limits
    got = res["verdict"] + (" with wrong output" if result_event["stdout_ok"] is False else "")
    replay = f"reliability replay {shlex.quote(str(history.run_dir))} {index}"
    return (
        f"seed {history.seed} index {index} box {result_event['box']} {sub.label} ({sub.language}) "
        f"limits cpu {lim.cpu_s}s wall {lim.wall_s}s mem {lim.mem_mb}MB "
        f"processes {lim.processes} output {lim.output_kb}KB: "
        f"expected {sub.expected}, got {got}; target said {res.get('message', '')!r}; replay: {replay}"
    )
