"""State corruption recovery (QA-REL-001 section 8): corrupt JSON, a partial write, a missing file and
schema-invalid data in a box's state file.

One worker (its box is the damaged one); the next OTHERS boxes are the ones that must keep serving.
Each execution's case (Submission.case) is a kind of damage; its program is an OK one. Around it, with the box idle after a normal run and
cleanup: a host snapshot, the damage written into the box's state file from outside
(nemesis/corrupt_state.py); then the runner runs the submission on the damaged box. Afterwards: the
file as it is now (untouched, set aside, rewritten), where the bad bytes were kept, the records that
appeared in the target's audit files, a second run on the damaged box before any recover (a
quarantined box refuses it), a probe run on each other box, then the target's recover, the host
compared with the snapshot and a probe on the damaged box. All of it is one "evidence" event
labelled "state corruption" per case; checks/state.py judges it. A target that names no per-box
state file gets every case skipped with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from reliability import aftermath
from reliability.checks import completeness, leaks
from reliability.checks import state as state_checks
from reliability.nemesis import audit_trail, corrupt_state, recorded
from reliability.probes import state_files
from reliability.profiles import Sizes
from reliability.stages.base import ONE_WORKER, Stage, StageContext
from reliability.targets.base import Limits, Result, Target, TargetError
from reliability.targets.delegate import Delegating
from reliability.workload.submission import Submission

LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=16, output_kb=64)
LABEL = state_checks.LABEL
OTHERS = 2  # boxes next to the damaged one that must keep serving while it is quarantined
SIZES = {  # iterations = rounds of every corruption case; duration_s caps the stage (see enough)
    "smoke": Sizes(iterations=1, concurrency=1, duration_s=120),
    "preprod": Sizes(iterations=1, concurrency=1, duration_s=120),
    "quick": Sizes(iterations=3, concurrency=1, duration_s=600),
    "release": Sizes(iterations=20, concurrency=1, duration_s=3600),
}


def workload(ctx: StageContext) -> Iterator[Submission]:
    index = 0
    for _ in range(ctx.sizes.iterations):
        for case in corrupt_state.CASES:
            # A box whose state file is damaged must refuse to run: IE is what a correct sandbox reports.
            yield Submission(index, aftermath.PROBE_PROGRAM, "python", "IE", "normal", LIMITS, case=case)
            index += 1


def planned(ctx: StageContext) -> int:
    return ctx.sizes.iterations * len(corrupt_state.CASES)


def enough(ctx: StageContext, fed: int, elapsed: float) -> bool:
    """All cases of every iteration fed, or the stage's time cap (duration_s) reached."""
    return fed >= planned(ctx) or 0 < ctx.sizes.duration_s <= elapsed


class Recording(Delegating):
    """Delegates to `inner`, keeping what the damaged box's execution got (init error, result, cleanup)."""

    def __init__(self, inner: Target):
        super().__init__(inner)
        self.init_error = ""
        self.result: Result | None = None
        self.cleanup_outcome: dict | None = None

    def init(self, box: int) -> None:
        try:
            self.inner.init(box)
        except TargetError as e:
            self.init_error = str(e)
            raise

    def run(self, box, command, limits, files) -> Result:
        self.result = self.inner.run(box, command, limits, files)
        return self.result

    def cleanup(self, box: int):
        outcome = self.inner.cleanup(box)
        self.cleanup_outcome = outcome.to_dict()
        return outcome


@contextmanager
def around(ctx: StageContext, sub: Submission) -> Iterator[Target | None]:
    journal, target, case, box = ctx.journal, ctx.target, sub.case, sub.box
    at = {"index": sub.index, "box": box, "case": case, "how": corrupt_state.HOW[case]}
    why = corrupt_state.cannot(target, box)
    if why:
        journal.append("evidence", label=LABEL, evidence={**at, "skipped": why})
        yield None
        return
    path = target.state_file(box)
    audits = target.audit_files()
    others = [box + i for i in range(1, OTHERS + 1)]
    owned = target.owned([box, *others])
    prime = aftermath.probe(target, box)  # a normal run and cleanup: the box idle, its file written
    if "skipped" in prime:
        journal.append("evidence", label=LABEL, evidence={**at, "skipped": prime["skipped"]})
        yield None
        return
    good = audit_trail.read(path)
    data, cannot_make = corrupt_state.damage(case, good)
    if cannot_make:
        journal.append("evidence", label=LABEL, evidence={**at, "file": path, "skipped": cannot_make})
        yield None
        return
    before = aftermath.snapshot(owned)
    root = corrupt_state.state_root(owned.state_files, path)
    files_before = corrupt_state.files_under(root)
    audit_marks = audit_trail.mark(target)
    started = time.monotonic()
    recording = Recording(target)
    error = None
    with recorded(journal, "corrupt_state", f"box {box}: {path}: {corrupt_state.HOW[case]}"):
        written = corrupt_state.write(path, data)
        seen = state_files.problems(owned, [path]) if data is not None else [f"{path}: missing"]
        try:
            yield recording
        except Exception as e:  # the target crashed the pipeline's execution: evidence, then re-raised
            error = e
        except BaseException:  # interrupted: undo the damage (recover) before leaving
            target.recover(box)
            raise
    after = audit_trail.read(path)
    evidence = {**at, "file": path, "audit_files": audits, "prime": prime, "written": written}
    evidence.update(
        damage_seen_by_probe=seen,
        damaged_run={
            "init_error": recording.init_error,
            "result": recording.result.to_dict() if recording.result else None,
            "cleanup": recording.cleanup_outcome,
            "error": repr(error) if error else "",
        },
        file_after={
            **corrupt_state.describe(after),
            "untouched": after == data,
            "problems": state_files.problems(owned, [path]),
        },
        kept_at=corrupt_state.kept_copies(root, files_before, data),
        state_root=root,
        audit=audit_trail.since(audit_marks),
        retry=aftermath.probe(target, box),  # before recover: a quarantined box still refuses
        others={str(b): aftermath.probe(target, b) for b in others},
    )
    evidence["recovered"] = aftermath.recover_and_compare(target, box, before, owned)
    evidence["probe"] = aftermath.probe(target, box)
    evidence["seconds"] = round(time.monotonic() - started, 3)
    journal.append("evidence", label=LABEL, evidence=evidence)
    if error is not None:
        raise error


STAGE = Stage(
    name="state",
    title="State corruption recovery (QA-REL-001 section 8)",
    sizes=SIZES,
    workload=workload,
    planned=planned,
    enough=enough,
    cases=corrupt_state.CASES,
    checks=(state_checks.check, completeness.check, leaks.check),
    boxes_plan=ONE_WORKER,  # see the module docstring
    around=around,
)
