"""Resource exhaustion (QA-REL-001 section 5): graceful degradation, clear errors, recovery.

Per case: every run under the fault got the right verdict, or IE with a cause (a clear error; a wrong
verdict or a silent IE is not graceful). After the faults, plain runs must be right again with no manual
step. Every fault journalled as started must have ended (undone). A case that could not be set up here
(no stress-ng, a target that cannot be relocated) is skipped with the reason, never passed.

A run whose fault no longer held at its end (the "exhaustion effect" evidence: stress-ng gone, the
helper's fds not held, space left on the filled tmpfs) tested nothing: it is left out, and a case with
no run left is skipped with those facts, never passed or failed.

A fill_box run that wrote all it tried (the program's cap, 512 MiB) met no disk quota at all: that is
named as such, with how much, where, and the option that would give the target one. It stays a failure:
a judge without a disk quota lets one submission fill its host's disk.
"""

from __future__ import annotations

from collections import defaultdict

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

CASES = {
    "fill_box": "disk full: box quota filled",
    "state_full": "disk full: sandbox state on a full tmpfs",
    "fd_limit": "fd limit reached",
    "many_fds": "many fds held on the host",
    "memory": "host memory pressure",
    "cpu": "host CPU saturation",
}
EFFECT_LABEL = "exhaustion effect"  # evidence: did the case's fault still hold at the end of its run
FILL_BOX_LABEL = "exhaustion fill_box"  # evidence: the box's directory on the host
NO_QUOTA = "no quota: "  # how fill_box.py's output begins when nothing stopped it
QUOTA_FIX = {  # target name -> what would give its boxes a disk quota
    "isolate": (
        "isolate's --quota=BLOCKS,INODES limits the box, and needs a filesystem with quotas enabled "
        "under its box_root; --fsize limits one file, not the box"
    ),
    "builtin": "the refbox's box is a tmpfs of quota_mb (--target-option quota_mb=N)",
}
GENERIC_FIX = (
    "give each box a disk quota (a size-limited filesystem per box, or filesystem quotas); a file size "
    "limit limits one file, not the box"
)
AFTER = "verdicts correct once the pressure ends"
UNDONE = "every fault undone"
RECOVERY = "recovery without manual steps (state_full)"


def check(history: History) -> list[CheckResult]:
    by_case: dict[str, list[dict]] = defaultdict(list)
    after = []
    for r in history.of_type("result"):
        sub = history.submissions.get(r["index"])
        if sub is None:
            continue
        if sub.case:
            by_case[sub.case].append(r)
        else:
            after.append((sub, r))
    skips = {e["evidence"]["case"]: e["evidence"]["reason"] for e in _evidence(history, "exhaustion skip")}
    results = []
    for name in history.cases or CASES:  # the run's own case list (stage_start), if it recorded one
        title = CASES.get(name, name.replace("_", " "))
        no_quota = _no_quota(history, by_case[name]) if name == "fill_box" else None
        runs, untaken = _split_by_effect(history, by_case[name])
        skip = skips.get(name) or (
            not runs and untaken and f"the fault did not take effect: {'; '.join(untaken)}"
        )
        results.append(no_quota or _case(name, title, runs, skip or None))
    return [*results, _after(after), _undone(history), _recovery(history, skips)]


def _split_by_effect(history: History, runs: list[dict]) -> tuple[list[dict], list[str]]:
    """(the runs whose fault took effect, the facts of those whose fault did not): the latter tested
    nothing and are left out (a history without effects counts every run)."""
    effects = {e["evidence"]["index"]: e["evidence"] for e in _evidence(history, EFFECT_LABEL)}
    mine = {r["index"] for r in runs}
    untaken = {i: e["fact"] for i, e in effects.items() if i in mine and not e["took_effect"]}
    return [r for r in runs if r["index"] not in untaken], [
        f"index {i}: {f}" for i, f in sorted(untaken.items())
    ]


def _evidence(history: History, label: str) -> list[dict]:
    return [e for e in history.of_type("evidence") if e["label"] == label]


def _case(case: str, title: str, runs: list[dict], skip_reason: str | None) -> CheckResult:
    if skip_reason:
        return skipped(title, skip_reason)
    if not runs:
        return failed(title, "no run of this case in the history: not measured")
    bad = []
    for r in runs:
        res = r["result"]
        if res["verdict"] == "IE":
            if not res.get("message", "").strip():
                bad.append(f"index {r['index']} box {r['box']}: IE without a cause")
        elif res["verdict"] != "OK" or r["stdout_ok"] is False:
            bad.append(
                f"index {r['index']} box {r['box']}: verdict {res['verdict']} ({res.get('message', '')}), "
                f"stdout {res.get('stdout', '').strip()[:200]!r}"
            )
    if bad:
        return failed(title, f"{len(bad)} of {len(runs)} runs neither right nor a clear error", bad)
    kinds = sorted(
        {
            r["result"]["verdict"] + (": " + r["result"]["message"] if r["result"].get("message") else "")
            for r in runs
        }
    )
    return passed(title, f"{len(runs)} runs right or failed with a cause", kinds)


def _no_quota(history: History, runs: list[dict]) -> CheckResult | None:
    """The fill_box finding when a run wrote all it tried: no disk quota applied (else None)."""
    unbounded = [r for r in runs if r["result"]["stdout"].startswith(NO_QUOTA)]
    if not unbounded:
        return None
    boxes = {e["evidence"]["index"]: e["evidence"]["box_dir"] for e in _evidence(history, FILL_BOX_LABEL)}
    target = history.stage_start["target"]
    wrote = []
    for r in unbounded:
        said = r["result"]["stdout"].strip().removeprefix(NO_QUOTA)  # "wrote N bytes to DIR without ENOSPC"
        words = said.split()
        size = f"{int(words[1]) / 2**20:g} MiB" if len(words) > 1 and words[1].isdigit() else "?"
        inside = said.split(" to ", 1)[-1].removesuffix(" without ENOSPC")
        host = boxes.get(r["index"], "its box directory")
        wrote.append(f"wrote {size} to {inside} (box {r['box']}, {host} on the host)")
    fix = QUOTA_FIX.get(target, GENERIC_FIX)
    message = (
        f"no disk quota applied: the program {wrote[0]} and nothing stopped it, so one submission can fill "
        f"the host's disk; to fix it: {fix}"
    )
    evidence = [f"index {r['index']}: {line}" for r, line in zip(unbounded, wrote)]
    return failed(CASES["fill_box"], message, evidence)


def _after(after: list) -> CheckResult:
    if not after:
        return failed(AFTER, "no plain run after the faults: recovery not measured")
    wrong = [
        f"index {r['index']} {sub.label}: expected {sub.expected}, got {r['result']['verdict']} "
        f"({r['result'].get('message', '')})"
        for sub, r in after
        if r["result"]["verdict"] != sub.expected or r["stdout_ok"] is False
    ]
    if wrong:
        return failed(AFTER, f"{len(wrong)} of {len(after)} runs after the faults wrong", wrong)
    return passed(AFTER, f"{len(after)} runs after the faults, all right")


def _undone(history: History) -> CheckResult:
    open_faults: dict[str, int] = defaultdict(int)
    for e in history.of_type("fault"):
        open_faults[e["kind"]] += 1 if e["phase"] == "start" else -1
    still = [
        f"{kind}: started {n} more time(s) than it ended" for kind, n in sorted(open_faults.items()) if n
    ]
    if still:
        return failed(UNDONE, f"{len(still)} fault kind(s) never ended", still)
    n = len(history.of_type("fault")) // 2
    if n == 0:
        return skipped(UNDONE, "no fault was injected")
    return passed(UNDONE, f"{n} faults, each with a start and an end")


def _recovery(history: History, skips: dict[str, str]) -> CheckResult:
    if "state_full" in skips:
        return skipped(RECOVERY, skips["state_full"])
    found = [e["evidence"] for e in _evidence(history, "exhaustion after state_full")]
    if not found:
        return failed(RECOVERY, "no evidence of a run after the state tmpfs was freed")
    bad = []
    for ev in found:
        if ev["verdict"] != "OK":
            bad.append(f"index {ev['index']}: next run got {ev['verdict']} ({ev['message']})")
        if ev["recover_found"]:
            bad.append(f"index {ev['index']}: recover had to remove {ev['recover_found']}")
    if bad:
        return failed(RECOVERY, f"{len(bad)} problem(s) once the space was back", bad)
    return passed(RECOVERY, f"{len(found)} time(s): the same box ran OK with no recover, nothing left behind")
