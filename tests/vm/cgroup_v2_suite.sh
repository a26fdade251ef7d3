#!/bin/sh
# What `nox -s tests_cgroup_v2` runs inside the cgroup v2 VM, from the repository root, with the
# interpreter that has the dependencies: sh tests/vm/cgroup_v2_suite.sh PYTHON
# JUnit and run directories go to $VM_RESULTS, the VM's way back to the host.
set -u
py=${1:?usage: cgroup_v2_suite.sh PYTHON}
out=${VM_RESULTS:?run through tests/vm/cgroup_v2_vm.py}

# Fail, never skip, if the backend the refbox picks here is not v2.
"$py" -c 'import sys; from reliability.refbox.cgroups import detect; sys.exit(detect().version != 2)' ||
    { echo "suite: the refbox does not see cgroup v2 here"; exit 1; }

# qemu's TCG runs the guest 15-40 times slower than the host: limits are stretched so verdicts hold.
# A JVM's OK run took up to 17 s of guest CPU on a busy host (1.25 s is the smoke profile's floor).
test_scale=${VM_TEST_TIME_SCALE:-10}
stage_scale=${VM_STAGE_TIME_SCALE:-20}
status=0
rm -rf "$out/pytest.xml" "$out/reports" "$out/runs"  # a previous session's results must not pass for these
# The refbox tests that meet cgroups (verdicts from the OOM record and CPU time, kill and removal of
# run cgroups, recovery of what a dead supervisor left). The other refbox tests reach cgroups through
# the same calls; they run on the host only, to keep this session within CI's time budget.
REFBOX_TEST_TIME_SCALE=$test_scale "$py" -m pytest -q -p no:cacheprovider -rfs --junitxml "$out/pytest.xml" \
    tests/integration/test_cgroup_v2_real_kernel.py tests/integration/test_refbox_verdicts.py \
    tests/integration/test_refbox_cleanup.py tests/integration/test_refbox_recover.py \
    tests/integration/test_refbox_phases.py || status=1
# Stress and leaks at a third of their smoke sizes (20 submissions; 12 iterations, every ending three
# times): under TCG each execution takes ~7 s, and the whole of CI must stay well under 30 minutes.
# Apart, as --iterations also sizes crash and faults.
stage() { "$py" -m reliability run "$@" --profile smoke --target-option "time_scale=$stage_scale" \
    --runs /tmp/runs --reports "$out/reports" || status=1; }
stage stress --submissions 20
stage leaks --iterations 12
stage crash faults
cp -r /tmp/runs "$out/runs"
exit $status
