"""QA-REL-001 section 6 evidence (the plan's leak_check_test): each leak defect of the built-in sandbox
is caught by the crash stage's "left nothing behind by itself" and by the matching leaks check, which
names the leftover; the same runs without the defect pass."""

from __future__ import annotations

import pytest
from stage_runs import only, run_stage

from reliability.checks import crash, leaks

pytestmark = pytest.mark.root

# defect -> (leaks check that must fail, a text its evidence must contain)
LEAK_DEFECTS = {
    "leak_process": (leaks.KINDS["processes"], "sleep"),
    "leave_mount": (leaks.KINDS["mounts"], "tmpfs"),
    "leave_cgroup": (leaks.KINDS["cgroups"], "box-"),
    "leak_fd": (leaks.KINDS["fds"], ".state"),
    "leave_tempdir": (leaks.KINDS["temp_dirs"], ".defect-tmp-"),
    "leave_zombie": (leaks.KINDS["zombies"], "zombie"),
}
STAGE = only("crash", ("execute",))  # one supervisor kill: the cleanup after it runs the defect


def test_without_a_defect_every_leak_check_passes():
    checks = run_stage(STAGE, {"iterations": 1})
    for name in [crash.LEFT, *leaks.KINDS.values()]:
        assert checks[name].status == "passed", checks[name]


@pytest.mark.parametrize("defect", sorted(LEAK_DEFECTS))
def test_a_leak_defect_is_caught_and_named(defect):
    name, text = LEAK_DEFECTS[defect]
    checks = run_stage(STAGE, {"iterations": 1}, points=f"defect.{defect}")
    assert checks[crash.LEFT].status == "failed", checks[crash.LEFT]
    assert checks[name].status == "failed", checks[name]
    assert any(text in line for line in checks[name].evidence), checks[name].evidence
