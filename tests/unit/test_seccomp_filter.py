"""The refbox's seccomp filter, as the kernel would run it: a small classic-BPF interpreter runs the
instructions on seccomp_data records, for x86_64 and for aarch64 (which this machine is not: the
interpreter stands in for an aarch64 kernel). The filter's effect on a real boxed program is shown
by the isolation stage tests."""

from __future__ import annotations

import errno
import struct

import pytest

from reliability.refbox import seccomp

I386 = 0x40000003
CLONE_NEWUSER, CLONE_NEWNET, CLONE_VM, CLONE_THREAD = 0x10000000, 0x40000000, 0x100, 0x10000


def run(program, nr: int, arch: int, arg0: int = 0) -> int:
    """The filter's return value for one system call (classic BPF: A register, forward jumps)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            hit = acc == k if code == 0x15 else acc >= k if code == 0x35 else bool(acc & k)
            pc += 1 + (jt if hit else jf)
        elif code == 0x06:  # ret k
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x} at {pc}")


@pytest.mark.parametrize("machine", sorted(seccomp.AUDIT_ARCH))
def test_namespaces_are_refused_and_everything_else_allowed(machine):
    program, arch, nr = seccomp.program(machine), seccomp.AUDIT_ARCH[machine], seccomp.NUMBERS[machine]
    eperm, allow = seccomp.RET_ERRNO | errno.EPERM, seccomp.RET_ALLOW
    assert run(program, nr["unshare"], arch, CLONE_NEWUSER) == eperm
    assert run(program, nr["setns"], arch) == eperm
    assert run(program, nr["clone"], arch, CLONE_NEWUSER | 17) == eperm
    assert run(program, nr["clone"], arch, CLONE_NEWNET) == eperm
    assert run(program, nr["clone3"], arch) == seccomp.RET_ERRNO | errno.ENOSYS
    for name in ("keyctl", "perf_event_open", "io_uring_setup"):
        assert run(program, nr[name], arch) == eperm
    assert run(program, nr["clone"], arch, CLONE_VM | CLONE_THREAD) == allow  # threads and fork still work
    assert run(program, 0, arch) == allow and run(program, 63, arch) == allow


@pytest.mark.parametrize("machine", sorted(seccomp.AUDIT_ARCH))
def test_a_foreign_architecture_is_killed(machine):
    assert run(seccomp.program(machine), 310, I386) == seccomp.RET_KILL_PROCESS


def test_x32_system_calls_are_killed_on_x86_64():
    assert run(seccomp.program("x86_64"), seccomp.X32_SYSCALL_BIT | 272, seccomp.AUDIT_ARCH["x86_64"]) == (
        seccomp.RET_KILL_PROCESS
    )
