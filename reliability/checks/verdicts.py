"""Verdict correctness (QA-REL-001 section 1): every run got the verdict its program is built to get."""

from __future__ import annotations

import shlex

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History
from reliability.workload.submission import Submission

NAME = "all verdicts correct"


def check(history: History) -> list[CheckResult]:
    results = history.of_type("result")
    judged = [r for r in results if r["index"] in history.submissions]
    if not judged:
        return [skipped(NAME, "no results to judge: nothing ran")]
    wrong = [_describe(history, r) for r in judged if _is_wrong(r, history.submissions[r["index"]])]
    if wrong:
        return [failed(NAME, f"{len(wrong)} of {len(judged)} verdicts wrong (seed {history.seed})", wrong)]
    return [passed(NAME, f"{len(judged)} verdicts correct")]


def _is_wrong(result_event: dict, submission: Submission) -> bool:
    return result_event["result"]["verdict"] != submission.expected or result_event["stdout_ok"] is False


def _describe(history: History, result_event: dict) -> str:
    index = result_event["index"]
    sub = history.submissions[index]
    res = result_event["result"]
    lim = sub.limits
    got = res["verdict"] + (" with wrong output" if result_event["stdout_ok"] is False else "")
    replay = f"reliability replay {shlex.quote(str(history.run_dir))} {index}"
    return (
        f"seed {history.seed} index {index} box {result_event['box']} {sub.program} ({sub.language}) "
        f"limits cpu {lim.cpu_s}s wall {lim.wall_s}s mem {lim.mem_mb}MB "
        f"processes {lim.processes} output {lim.output_kb}KB: "
        f"expected {sub.expected}, got {got}; target said {res.get('message', '')!r}; replay: {replay}"
    )
