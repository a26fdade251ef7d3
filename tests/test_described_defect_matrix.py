"""The defect matrix through the described-target path: the built-in sandbox behind a shell script and a
target file (tests/data/defective_box/box.sh, the box.sh of docs/targets.md), with one defect switched
on by the target option `defects`. Each defect fails the check that exists for it, naming what it
left where that is cheap to tell; the clean script passes the same checks in runs of the same stages and sizes.
docs/defect-matrix.md lists these rows under "Through a described sandbox".
"""

from __future__ import annotations

import os

import pytest
from stage_runs import only

from reliability.checks import aftermath, crash, degradation, isolation, leaks, locks, verdicts
from reliability.execute import RunOptions, execute
from reliability.stages import get
from tests.described_box import described_box

pytestmark = pytest.mark.root

# Box uids (60000+N) count as the sandbox's processes: a foreign process under one of ours is a leak or
# a failed cleanup here. 980-999 is the range no other test's box numbers reach (they stop at 979).
BOX_BASE = 980 + (os.getpid() % 5) * 4

# Checks of issue 12's crash and locks items (a program running on past its limits once its supervisor
# died; a second run admitted into a box already initialised and running).
LIMITS_AFTER_DEATH = "limits enforced after the supervisor died"
RUN_LOCK = "no overlapping runs in one initialised box"

# stage -> (the stage, maybe narrowed; its sizes; the target file: "claimed" declares the sandbox's
# cgroup root like docs/targets.md, "box_cgroups" only its box cgroups like the isolate 1.x profile)
STAGES = {
    # One group (python, OK) with just enough runs for the degradation check to compare its windows;
    # three workers, so the slow-down's sleeps overlap. Each run costs three CLI calls, mostly Python
    # start-up: when other work on the host grows during the run, the clean run's late window is slower
    # too, and the check has failed on that (seen once in five runs on a 2-core host shared by six).
    "stress": (
        only("stress", ("python/ok_sum",), own_end=True),
        {"submissions": degradation.WINDOWS * degradation.MIN_PER_WINDOW, "concurrency": 3},
        "claimed",
    ),
    "leaks": (get("leaks"), {"iterations": 4}, "box_cgroups"),
    # The two phases at which the program is running when the supervisor is killed.
    "crash": (only("crash", ("execute", "timeout")), {"iterations": 1}, "claimed"),
    "locks": (get("locks"), {"iterations": 6, "concurrency": 3}, "claimed"),
    "isolation": (only("isolation", ("namespace_user",)), {}, "claimed"),
}

# defect -> (stage, sizes over the stage's, checks that must fail, a text one of their evidence lines
# must contain, or "" when it varies)
DEFECTS = {
    "orphans": ("crash", {}, (crash.LEFT, LIMITS_AFTER_DEATH), ""),
    # Racy by nature, as skip_lock in tests/test_failure_matrix.py: no evidence text required.
    "no_run_lock": ("locks", {}, (RUN_LOCK, locks.MARKER), ""),
    "leave_box_cgroup": ("leaks", {}, (leaks.KINDS["cgroups"],), f"/box-{BOX_BASE}"),
    "leave_box_dir": ("leaks", {}, (leaks.KINDS["temp_dirs"],), f"/boxes/{BOX_BASE}"),
    "wrong_verdict": ("stress", {"submissions": 4}, (verdicts.NAME,), "got RE"),
    "slowdown": ("stress", {}, (degradation.NAME,), "python OK"),
    "allow_namespaces": ("isolation", {}, (isolation.check_name("namespace_user"),), "namespace"),
    "dirty_clean": ("crash", {}, (aftermath.CLEAN_CLEANUP,), f"/boxes/{BOX_BASE}"),
}


@pytest.fixture(scope="module")
def targets():
    """{"claimed": (work, target file, target), "box_cgroups": (...)}: two sandboxes of their own."""
    if os.geteuid() != 0:
        pytest.skip("the built-in sandbox behind the script needs root")
    with described_box("defbox", box_base=BOX_BASE) as claimed:
        with described_box("defbox-cg", claim_cgroup_root=False, box_base=BOX_BASE) as bare:
            yield {"claimed": claimed, "box_cgroups": bare}


def run(targets: dict, stage_name: str, sizes: dict, defects: str = "") -> dict:
    """{check name: CheckResult} of one real run of the stage through the script."""
    stage, stage_sizes, which = STAGES[stage_name]
    work, path, target = targets[which]
    out = work / f"{stage_name}-{defects or 'clean'}"
    opts = RunOptions(
        profile="smoke",
        seed=11,
        overrides={**stage_sizes, **sizes},
        runs_dir=out / "runs",
        reports_dir=out / "reports",
        target=str(path),
        target_options={"defects": defects},
        box_base=BOX_BASE,
    )
    try:
        return {c.name: c for c in execute(stage, opts).checks}
    finally:
        # What a defect left must not be the next run's baseline; the slow-down counts from zero again
        # (its counter is "$root.runs", beside the box root: see the script).
        target.recover()
        (work / "boxes.runs").unlink(missing_ok=True)


def statuses(checks: dict, names) -> dict:
    return {name: checks[name].status if name in checks else "missing" for name in names}


def shown(checks: dict, names) -> str:
    return "\n".join(
        f"{checks[n].name}: {checks[n].message}\n  {checks[n].evidence[:8]}" for n in names if n in checks
    )


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_a_defect_of_the_described_sandbox_fails_its_check(targets, defect):
    stage_name, sizes, names, text = DEFECTS[defect]
    checks = run(targets, stage_name, sizes, defects=defect)
    assert statuses(checks, names) == dict.fromkeys(names, "failed"), shown(checks, names)
    evidence = [line for name in names for line in checks[name].evidence]
    assert not text or any(text in line for line in evidence), evidence


@pytest.mark.parametrize("stage_name", list(STAGES))
def test_the_clean_script_passes_the_same_checks(targets, stage_name):
    names = [name for stage, _, checks, _ in DEFECTS.values() if stage == stage_name for name in checks]
    checks = run(targets, stage_name, {})
    assert statuses(checks, names) == dict.fromkeys(names, "passed"), shown(checks, names)
