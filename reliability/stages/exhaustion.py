"""Resource exhaustion (QA-REL-001 section 5): runs under disk full, the fd limit, memory and CPU pressure.

One worker (an fd limit is per process, host pressure is per host: two cases at once would blur which
fault a verdict belongs to). Each case is one execution with its fault held from init to cleanup by
`around`, journalled as "fault" start/end events, and at the end of the run whether it still held
(an "exhaustion effect" evidence event: the limit still lowered, the fds still held, stress-ng still
running, no space left on the filled tmpfs). After every round of cases, plain runs must get
their verdicts right again without any manual step. Cases:
  fill_box     the program fills its box quota (the sandbox must keep ENOSPC inside the box)
  state_full   the sandbox's own box root and state on a small tmpfs we fill (builtin target: relocated)
  fd_limit     RLIMIT_NOFILE lowered on the processes the pipeline starts; the program opens until EMFILE
  many_fds     a helper process holding many fds while a run goes on
  memory       stress-ng --vm, bounded in time and size
  cpu          stress-ng --cpu on every core, bounded in time
"""

from __future__ import annotations

import os
import random
import resource
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.checks import completeness, exhaustion, leaks
from reliability.history import Journal
from reliability.nemesis import cleanup_step, disk_full, fd_limit, pressure, recorded
from reliability.profiles import Sizes
from reliability.runner import Prepared
from reliability.stages.base import ONE_WORKER, Fixture, Stage, StageContext
from reliability.targets.base import Limits, Target
from reliability.targets.capabilities import Relocatable, capability
from reliability.workload import toolchain
from reliability.workload.catalog import PROGRAMS_DIR
from reliability.workload.prepare import prepare_programs
from reliability.workload.submission import Submission

LIMITS = Limits(cpu_s=3.0, wall_s=15.0, mem_mb=256, processes=16, output_kb=1024)
OK_SUM = "python/ok_sum"
PROGRAMS = {  # case -> the program it runs: a catalog id, or a file in programs/exhaustion
    "fill_box": "exhaustion/fill_box",
    "state_full": OK_SUM,
    "fd_limit": "exhaustion/fd_exhaust",
    "many_fds": OK_SUM,
    "memory": OK_SUM,
    "cpu": OK_SUM,
}
OWN_PROGRAMS = {"exhaustion/fill_box": "full\n", "exhaustion/fd_exhaust": "emfile\n"}  # id -> its stdout
AFTER = (OK_SUM, "python/re_exit")  # plain runs after each round: verdicts right again
STATE_TMPFS_MB = 4
FD_HEADROOM = 48
HELD_FDS = 4000
SIZES = {  # iterations = rounds of every exhaustion case; one worker (see the module docstring)
    "smoke": Sizes(iterations=1, concurrency=1, watchdog_s=120),
    "preprod": Sizes(iterations=1, concurrency=1, watchdog_s=120),
    "quick": Sizes(iterations=2, concurrency=1),
    "release": Sizes(iterations=10, concurrency=1),
}


@contextmanager
def host_fixture(ctx: StageContext) -> Iterator[Fixture]:
    """The stage's own programs (the catalog's are prepared by the run)."""
    python = toolchain.detect("python")
    prepared: dict[str, Prepared | str] = {}
    for program, stdout in OWN_PROGRAMS.items():
        if not python.available:
            prepared[program] = python.missing
            continue
        source = program.split("/", 1)[1] + ".py"
        command = [python.tools["python3"], "-I", "-S", source]
        prepared[program] = Prepared(command, {str(PROGRAMS_DIR / "exhaustion" / source): source}, stdout)
    yield Fixture(prepared)


def workload(ctx: StageContext) -> Iterator[Submission]:
    rng = random.Random(ctx.seed)
    index = 0
    for _ in range(ctx.sizes.iterations):
        cases = list(PROGRAMS)
        rng.shuffle(cases)
        for case in cases:
            yield Submission(index, PROGRAMS[case], "python", "OK", "normal", LIMITS, case=case)
            index += 1
        for program in AFTER:
            expected = "OK" if "/ok_" in program else "RE"
            yield Submission(
                index, program, "python", expected, "normal" if expected == "OK" else "crash", LIMITS
            )
            index += 1


@contextmanager
def around(ctx: StageContext, sub: Submission) -> Iterator[Target | None]:
    """Hold the submission's fault from init to cleanup; a case that cannot be set up here is skipped."""
    journal, target, case = ctx.journal, ctx.target, sub.case
    why = _cannot(case, target)
    if not case:
        yield None
    elif why:
        journal.append(
            "evidence", label="exhaustion skip", evidence={"case": case, "index": sub.index, "reason": why}
        )
        yield None
    elif case == "fill_box":
        # Where the box is on the host: a finding of no quota names the disk it would fill.
        where = {"index": sub.index, "box": sub.box, "box_dir": cleanup_step.box_dir(target, sub.box)}
        journal.append("evidence", label=exhaustion.FILL_BOX_LABEL, evidence=where)
        with recorded(journal, "disk_full", f"box {sub.box} quota filled by the program"):
            yield None
    elif case == "state_full":
        with _state_full(journal, target, sub) as relocated:
            yield relocated
    elif case == "fd_limit":
        with fd_limit.lowered_nofile(FD_HEADROOM) as limit:
            with recorded(journal, "fd_limit", f"RLIMIT_NOFILE soft {limit} for the processes we start"):
                yield None
                soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                _effect(journal, sub, soft == limit, f"RLIMIT_NOFILE soft {soft} at the end of the run")
    elif case == "many_fds":
        with fd_limit.many_fds(HELD_FDS) as pid:
            with recorded(journal, "many_fds", f"helper pid {pid} holds {HELD_FDS} fds"):
                yield None
                held = _fds_of(pid)
                _effect(
                    journal, sub, held >= HELD_FDS, f"helper pid {pid} held {held} fds at the end of the run"
                )
    else:
        kind, seconds = ("vm" if case == "memory" else "cpu"), int(LIMITS.wall_s) + 5
        with pressure.pressure(kind, seconds) as (pid, argv):
            with recorded(journal, f"pressure_{case}", f"stress-ng pid {pid}: {' '.join(argv)}"):
                yield None
                state = "running" if _running(pid) else "gone"
                _effect(
                    journal, sub, state == "running", f"stress-ng pid {pid} {state} at the end of the run"
                )


def _effect(journal: Journal, sub: Submission, took_effect: bool, fact: str) -> None:
    """What the fault was at the end of the run (facts): one that no longer held tested nothing."""
    evidence = {"case": sub.case, "index": sub.index, "took_effect": took_effect, "fact": fact}
    journal.append("evidence", label=exhaustion.EFFECT_LABEL, evidence=evidence)


def _fds_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _running(pid: int) -> bool:
    """Alive and not a zombie (a stress-ng that failed to start has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _cannot(case: str, target: Target) -> str:
    if case in ("memory", "cpu"):
        return pressure.missing()
    if case == "state_full" and capability(target, Relocatable) is None:
        return f"target {target.name} cannot be relocated onto a small tmpfs (it is not Relocatable)"
    return ""


@contextmanager
def _state_full(journal: Journal, target: Target, sub: Submission) -> Iterator[Target]:
    """The same sandbox (same cgroups, so the probes see its leftovers) with its box root and state on a
    small tmpfs we fill; after the run the space is freed and one plain run must work with no recover."""
    relocatable = capability(target, Relocatable)
    assert relocatable is not None  # _cannot skipped the case otherwise
    with disk_full.small_tmpfs(STATE_TMPFS_MB, prefix="exhaustion-state-") as root:
        relocated = relocatable.relocated(root)
        with recorded(journal, "state_full", f"box root and state of the sandbox on {root}, filled") as info:
            with disk_full.filled(root) as written:
                info["detail"] = f"box root {root}: {written} bytes filled, the run went on a full disk"
                st = os.statvfs(root)
                free = st.f_bavail * st.f_frsize
                yield relocated
                _effect(journal, sub, free == 0, f"{free} bytes free on {root} once filled")
        journal.append("evidence", label="exhaustion after state_full", evidence=_after(relocated, sub))


def _after(relocated: Target, sub: Submission) -> dict:
    """Space back: the same box must run again without a manual recover; then recover, and say what it found."""
    prepared = prepare_programs([OK_SUM])[OK_SUM]
    verdict, message = "IE", ""
    try:
        relocated.init(sub.box)
        result = relocated.run(sub.box, prepared.command, LIMITS, prepared.files)
        verdict, message = result.verdict, result.message
    except Exception as exc:  # the sandbox's failure is the evidence, not a pipeline crash
        message = f"init failed: {exc}"
    outcome = relocated.cleanup(sub.box)
    left = relocated.recover(sub.box)
    return {
        "case": "state_full",
        "index": sub.index,
        "verdict": verdict,
        "message": message,
        "cleanup_ok": outcome.ok,
        "cleanup_error": outcome.error,
        "recover_found": left,
    }


STAGE = Stage(
    name="exhaustion",
    title="Resource exhaustion (QA-REL-001 section 5)",
    sizes=SIZES,
    workload=workload,
    planned=lambda ctx: ctx.sizes.iterations * (len(PROGRAMS) + len(AFTER)),
    cases=tuple(PROGRAMS),
    checks=(exhaustion.check, completeness.check, leaks.check),
    host_fixture=host_fixture,
    around=around,
    # Its cases fill what every box shares (the state tmpfs, the host's fds and pids): two at once would
    # each see the other's fault, and --concurrency N once made a state_full case's recovery probe fail.
    boxes_plan=ONE_WORKER,
)
