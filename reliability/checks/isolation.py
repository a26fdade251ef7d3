"""Isolation: each hostile case was contained, with its expected verdict, and the host saw no effect.

Evidence comes from two sides: what the program printed ("contained: ..." or "ESCAPED: ...") and what
the host fixture saw (the "evidence" event). Either side showing an escape fails the case.
"""

from __future__ import annotations

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

EXPECTED = {
    "read_host_file": "OK",
    "write_host_file": "OK",
    "connect": "OK",
    "kill": "OK",
    "fill_disk": "OK",
    "symlink_out": "OK",
    "setuid": "OK",
    "fork_bomb": "TLE",  # the pids limit holds the count; the time limit ends the spinning
}

# What the host must show after each case, from the fixture's evidence: (field, value when contained).
HOST_EVIDENCE = {
    "write_host_file": ("planted_file_exists", False),
    "connect": ("connections", 0),
    "kill": ("victim_alive", True),
    "symlink_out": ("host_dir_intact", True),
}


def check(history: History) -> list[CheckResult]:
    evidence_events = history.of_type("evidence")
    host = evidence_events[-1]["evidence"] if evidence_events else None
    runs: dict[str, list[dict]] = {case: [] for case in EXPECTED}
    for event in history.of_type("result"):
        sub = history.submissions.get(event["index"])
        if sub and sub.program.startswith("hostile/") and sub.program[8:] in runs:
            runs[sub.program[8:]].append(event["result"])
    return [_check_case(case, runs[case], host) for case in EXPECTED]


def _check_case(case: str, results: list[dict], host: dict | None) -> CheckResult:
    name = f"hostile {case} contained"
    if not results:
        return skipped(name, f"no run of hostile/{case} (skipped or not reached)")
    problems = []
    for r in results:
        stdout = r.get("stdout", "")
        if r["verdict"] != EXPECTED[case]:
            problems.append(f"expected {EXPECTED[case]}, got {r['verdict']}: {r.get('message', '')!r}")
        if "ESCAPED" in stdout and not stdout.startswith("ESCAPED?"):
            problems.append(f"escape: {stdout.strip()}")
        if case == "read_host_file" and host and host["secret"] in stdout:
            problems.append("escape: the host secret is in the program's stdout")
    if case in HOST_EVIDENCE:
        field, contained = HOST_EVIDENCE[case]
        if host is None:
            return skipped(name, "no host evidence in the history: the escape cannot be ruled out")
        if host.get(field) != contained:
            problems.append(f"escape seen on the host: {field} = {host.get(field)!r}")
    if problems:
        return failed(name, f"{case}: {problems[0]}", problems)
    return passed(name, f"{len(results)} run(s) contained", [r.get("stdout", "").strip() for r in results])
