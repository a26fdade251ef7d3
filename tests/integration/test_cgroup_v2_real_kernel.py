"""The cgroup v2 backend against the kernel's own unified hierarchy: delegation, limits, the OOM
record, memory.peak, cpu.stat, cgroup.kill and removal, with real processes.

Hosts that bind the controllers to cgroup v1 (ours) skip these; `nox -s tests_cgroup_v2` boots a
cgroup v2 kernel in qemu and runs them there. Limits are generous: under qemu's TCG a CPU is many
times slower, and nothing here depends on speed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reliability.refbox.cgroups import CgroupV2, detect, read_text, write_text

ROOT = "/sys/fs/cgroup"
MIB = 1024 * 1024


def _real_v2() -> bool:
    try:
        return {"memory", "pids"} <= set(read_text(f"{ROOT}/cgroup.controllers").split())
    except OSError:
        return False


pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not _real_v2(),
        reason="needs a cgroup v2 hierarchy with memory and pids (controllers bound to v1 here): "
        "nox -s tests_cgroup_v2 runs these in a VM",
    ),
]


@pytest.fixture
def backend():
    return CgroupV2(ROOT)


@pytest.fixture
def top(backend):
    """A cgroup of this test process (named by pid, so parallel runs never meet), removed afterwards."""
    name = f"reltest-v2-{os.getpid()}"
    yield name
    for rel in _depth_first(backend, name):
        backend.kill_all(rel)
        backend.remove(rel)


def _depth_first(backend, rel: str) -> list[str]:
    if not backend.exists(rel):
        return []
    return [x for child in backend.children(rel) for x in _depth_first(backend, f"{rel}/{child}")] + [rel]


def _start_in(backend, rel: str, code: str) -> subprocess.Popen:
    """A Python child that is in `rel` before its first instruction of `code`."""
    procs = backend.procs_files(rel)[0]
    return subprocess.Popen(
        [sys.executable, "-c", code],
        preexec_fn=lambda: write_text(procs, str(os.getpid())),
        stdout=subprocess.PIPE,
        text=True,
    )


def test_real_v2_ensure_delegates_the_controllers_down_every_ancestor(backend, top):
    backend.ensure(f"{top}/box-1/run")
    for rel in ("", top, f"{top}/box-1"):
        enabled = read_text(os.path.join(ROOT, rel, "cgroup.subtree_control")).split()
        assert {"memory", "pids", "cpu"} <= set(enabled), (rel, enabled)
    run_dir = backend.dirs(f"{top}/box-1/run")[0]
    for name in ("memory.max", "memory.peak", "memory.events", "pids.max", "cpu.stat", "cgroup.kill"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    backend.ensure(f"{top}/box-1/run")  # again: idempotent, no error from the kernel


def test_real_v2_limits_are_what_the_kernel_reports_back(backend, top):
    backend.ensure(top)
    backend.set_limits(top, 64 * MIB, 7)
    d = backend.dirs(top)[0]
    assert int(read_text(f"{d}/memory.max")) == 64 * MIB
    assert read_text(f"{d}/pids.max").strip() == "7"
    if os.path.exists(f"{d}/memory.swap.max"):
        assert read_text(f"{d}/memory.swap.max").strip() == "0"


def test_real_v2_peak_memory_and_cpu_of_a_normal_run(backend, top):
    backend.ensure(top)
    backend.set_limits(top, 512 * MIB, 16)
    child = _start_in(
        backend,
        top,
        "import time\nb = bytearray(48 << 20)\nb[::4096] = b'x' * len(b[::4096])\n"
        "t = time.process_time()\nwhile time.process_time() - t < 0.2: pass\n"
        "print(time.process_time())",
    )
    own_cpu_s = float(child.communicate()[0])
    assert child.returncode == 0
    peak = backend.peak_memory_bytes(top)
    assert peak is not None and 48 * MIB <= peak <= 512 * MIB, peak
    assert backend.oom_kills(top) == 0
    # cpu.stat counts the child's own CPU time (and more: its exec and exit).
    assert backend.cpu_usage_ns(top) >= 0.9 * own_cpu_s * 1e9


def test_real_v2_memory_limit_ends_in_an_oom_kill_that_is_recorded(backend, top):
    backend.ensure(top)
    backend.set_limits(top, 32 * MIB, 16)
    child = _start_in(backend, top, "b = bytearray(256 << 20)\nb[::4096] = b'x' * len(b[::4096])")
    child.communicate()
    assert child.returncode == -9
    assert backend.oom_kills(top) == 1
    assert backend.peak_memory_bytes(top) <= 32 * MIB


def test_real_v2_pids_max_refuses_forks_beyond_the_limit(backend, top):
    backend.ensure(top)
    backend.set_limits(top, 256 * MIB, 4)
    child = _start_in(
        backend,
        top,
        "import os, time\nborn = 0\nfor _ in range(10):\n"
        "    try:\n        pid = os.fork()\n    except BlockingIOError:\n        continue\n"
        "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    born += 1\nprint(born)",
    )
    born = int(child.stdout.readline())
    assert born == 3  # the parent plus three children reach pids.max = 4
    assert len(backend.pids(top)) <= 4
    assert "max 7" in read_text(f"{backend.dirs(top)[0]}/pids.events")
    backend.kill_all(top)
    child.wait()


def test_real_v2_kill_all_empties_a_process_tree_and_the_cgroup_can_go(backend, top):
    backend.ensure(f"{top}/run")
    child = _start_in(
        backend,
        f"{top}/run",
        "import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "for _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(600)\n"
        "print('ready', flush=True)\ntime.sleep(600)",
    )
    assert child.stdout.readline() == "ready\n"
    assert len(backend.pids(f"{top}/run")) == 4
    killed = backend.kill_all(f"{top}/run", reap=lambda: child.poll())
    assert len(killed) == 4
    assert backend.pids(f"{top}/run") == []
    assert child.wait() == -9
    backend.remove(f"{top}/run")
    assert not backend.exists(f"{top}/run")


def test_real_v2_is_what_detect_picks():
    backend = detect()
    assert isinstance(backend, CgroupV2) and backend.root == ROOT
