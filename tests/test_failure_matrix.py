"""QA-REL-001 sections 3 and 4 evidence (the plan's failure_matrix_test) and the defect matrix.

The crash and faults stages run for real on the built-in sandbox and pass; then each remaining defect
of the sandbox's defective mode (the leak defects are in test_leak_check.py) makes its matching check
fail with evidence naming it. docs/defect-matrix.md is this table.
"""

from __future__ import annotations

import pytest
from stage_runs import only, run_stage

from reliability.checks import crash, faults, isolation, locks, state

pytestmark = pytest.mark.root

# defect -> (stage, narrowed to these cases, sizes, check that must fail, text in its evidence)
DEFECTS = {
    "corrupt_state": (("crash", ("execute",)), {"iterations": 1}, crash.STATE, "state.json: not valid"),
    "wrong_verdict": (("crash", ("execute",)), {"iterations": 1}, crash.HEALTHY, "probe got RE"),
    # The program outlives its killed supervisor: it is still there when the grace period ends, and
    # has slept (execute) and spun (timeout) past its limits by then.
    "keep_orphans": (
        ("crash", ("execute", "timeout")),
        {"iterations": 1},
        crash.LIMITS,
        "after the supervisor died)",
    ),
    "claim_cleanup_success": (
        ("faults", ("reap",)),
        {"iterations": 1},
        faults.REPORTED,
        "cleanup said ok although reap was made to fail",
    ),
    "trust_state": (
        ("state", ("corrupt_json",)),
        {"iterations": 1},
        state.DETECTED,
        "the damage left no trace",
    ),
    # The program may create a user namespace, and every other kind inside one.
    "allow_namespaces": (
        ("isolation", ("namespace_user",)),
        {"iterations": 1},
        isolation.check_name("namespace_user"),
        "namespace_user: namespace: unshare(user) got ok",
    ),
    # Runs in one initialised box without a run lock overlap, and each sees the other's marker. The
    # stage's own executions are racy: a refused init (the box exists) can serialise them, so the marker
    # check may then pass with one run alone and the rest refused with a cause (seen once in CI).
    "skip_lock": (("locks", None), {"iterations": 6, "concurrency": 3}, locks.RUN_LOCK, ""),
    # The SIGKILLed holder's record is taken for a live holder: init and recover are refused until the
    # bound, each naming the dead pid as the holder.
    "ignore_stale_lock": (
        ("locks", None),
        {"iterations": 3, "concurrency": 2},
        locks.STALE,
        "busy (held by pid",
    ),
}


def test_crash_at_every_phase_leaves_nothing_and_recovers():
    checks = run_stage("crash", {"iterations": 1})
    for name in crash.NAMES:
        assert checks[name].status == "passed", checks[name]
    assert all(
        p in checks[crash.KILLED].message for p in ("setup", "execute", "timeout", "cleanup", "verdict")
    )


def test_a_failure_at_every_cleanup_step_is_reported_quarantined_and_recovered():
    checks = run_stage("faults", {"iterations": 1})
    for name in faults.NAMES:
        assert checks[name].status == "passed", checks[name]


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_defect_is_caught_by_its_check_and_named(defect):
    (stage, programs), sizes, names, text = DEFECTS[defect]
    stage = only(stage, programs) if programs else stage
    checks = run_stage(stage, sizes, points=f"defect.{defect}")
    for name in names if isinstance(names, tuple) else (names,):
        assert checks[name].status == "failed", checks[name]
        assert not text or any(text in line for line in checks[name].evidence), checks[name].evidence


def test_without_the_defects_the_same_checks_pass():
    checks = run_stage("locks", {"iterations": 6, "concurrency": 3})
    for name in (locks.MARKER, locks.RUN_LOCK, locks.STALE, locks.CORRUPT):
        assert checks[name].status == "passed", checks[name]
    # crash.STATE/HEALTHY and faults.REPORTED pass in the two stage tests above, state.DETECTED in
    # tests/integration/test_state_stage.py
