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

status=0
"$py" -m pytest -q -p no:cacheprovider -rfs --junitxml "$out/pytest.xml" \
    tests/integration/test_cgroup_v2_real_kernel.py tests/integration/test_refbox_*.py || status=1
# qemu's TCG runs the guest 15-40 times slower than the host: stretch the limits so verdicts hold.
"$py" -m reliability run stress leaks crash faults --profile smoke --target-option "time_scale=${VM_TIME_SCALE:-10}" \
    --runs /tmp/runs --reports "$out/reports" || status=1
cp -r /tmp/runs "$out/runs"
exit $status
