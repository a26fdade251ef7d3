"""A seccomp filter for the boxed program: no new namespaces, no setns, less kernel attack surface.

Why a classic-BPF filter of our own, installed with prctl(PR_SET_SECCOMP) right before exec:
- Namespaces are the hole. Even with every capability dropped, an unprivileged process may create a
  user namespace and, inside it, every other kind (mount, network, ...), reaching the kernel surface
  that user namespaces open. Only a filter refuses the system calls themselves, whatever the kernel's
  sysctls, and it is independent of cgroups, so it holds alike on cgroup v1 and v2 hosts.
- The alternatives fall short here: a chroot after pivot_root (the kernel refuses new user namespaces
  to a chrooted process, which is what saves isolate) covers user namespaces only and only by a side
  effect; `max_user_namespaces=0` needs a user namespace of our own around the run; libseccomp's
  Python binding is not importable from every interpreter (Debian's python3-seccomp is built for the
  system Python only). A filter of a dozen instructions, built once at import, is a few lines of
  ctypes and costs one prctl per run: no fork, no process.

What it does (native architecture only: x86_64 and aarch64):
- a system call of a foreign architecture (i386 through int 0x80, x32 on x86_64) kills the process:
  its numbers differ, so our rules would not apply to it;
- unshare and setns fail with EPERM; clone fails with EPERM when its flags ask for any CLONE_NEW*;
- clone3 fails with ENOSYS, so libc falls back to clone (as container runtimes do): its flags are
  behind a pointer, which a filter cannot read;
- keyctl, add_key, request_key, perf_event_open and the io_uring calls fail with EPERM: no judged
  program needs them, and each has a record of kernel privilege-escalation bugs.
Everything else is allowed. The filter is inherited by every child and survives execve.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from reliability.refbox import syscalls

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# linux/audit.h: the architecture word in seccomp_data, and x86_64's marker bit of x32 system calls.
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000

# All CLONE_NEW* flags clone(2) can take (CLONE_NEWTIME shares its bit with the exit signal there).
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

NUMBERS = {
    "x86_64": {
        "clone": 56,
        "unshare": 272,
        "setns": 308,
        "clone3": 435,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "perf_event_open": 298,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
    },
    "aarch64": {
        "clone": 220,
        "unshare": 97,
        "setns": 268,
        "clone3": 435,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "perf_event_open": 241,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
    },
}
DENIED = {  # system call -> errno (clone is handled by its flags)
    "unshare": errno.EPERM,
    "setns": errno.EPERM,
    "clone3": errno.ENOSYS,
    "keyctl": errno.EPERM,
    "add_key": errno.EPERM,
    "request_key": errno.EPERM,
    "perf_event_open": errno.EPERM,
    "io_uring_setup": errno.EPERM,
    "io_uring_enter": errno.EPERM,
    "io_uring_register": errno.EPERM,
}

# Classic BPF (linux/filter.h, linux/seccomp.h).
_LD_ABS_W = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # offsets in struct seccomp_data (little-endian: low word first)


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def program(machine: str) -> list[tuple[int, int, int, int]]:
    """The filter for `machine` as (code, jt, jf, k) instructions; jumps are relative, forward only."""
    numbers = NUMBERS[machine]
    body: list[tuple[int, int, int, int]] = [_stmt(_LD_ABS_W, _NR)]
    if machine == "x86_64":  # x32 calls: their numbers carry the marker bit
        body.append(("kill-if-ge", X32_SYSCALL_BIT))
    for name, err in DENIED.items():
        body += [_jump(_JEQ, numbers[name], 0, 1), _stmt(_RET, RET_ERRNO | err)]
    body += [
        _jump(_JEQ, numbers["clone"], 0, 3),
        _stmt(_LD_ABS_W, _ARG0_LOW),
        _jump(_JSET, CLONE_NEW_ANY, 0, 1),
        _stmt(_RET, RET_ERRNO | errno.EPERM),
        _stmt(_RET, RET_ALLOW),
    ]
    head = [_stmt(_LD_ABS_W, _ARCH), ("kill-if-ne", AUDIT_ARCH[machine])]
    code = head + body + [_stmt(_RET, RET_KILL_PROCESS)]
    kill = len(code) - 1
    resolved = []
    for i, ins in enumerate(code):  # the two jumps to the final kill, now that its place is known
        if ins[0] == "kill-if-ne":
            ins = _jump(_JEQ, ins[1], 0, kill - i - 1)
        elif ins[0] == "kill-if-ge":
            ins = _jump(_JGE, ins[1], kill - i - 1, 0)
        resolved.append(ins)
    return resolved


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _build() -> tuple[_SockFprog, ctypes.Array] | None:
    machine = os.uname().machine
    if machine not in NUMBERS:
        return None
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in program(machine))
    buffer = ctypes.create_string_buffer(raw, len(raw))
    return _SockFprog(len(raw) // 8, ctypes.addressof(buffer)), buffer


# Built once at import, in the pipeline: after fork the program's process only calls prctl.
_FILTER = _build()


def supported() -> bool:
    return _FILTER is not None


def filter_bytes() -> bytes:
    """The filter's instructions as the kernel reads them (boxinit.c installs them itself)."""
    if _FILTER is None:
        raise OSError(errno.ENOSYS, f"seccomp filter: no system call table for {os.uname().machine}")
    fprog, buffer = _FILTER
    return buffer.raw[: fprog.len * 8]


def install() -> None:
    """Apply the filter to this process and its future children (needs no_new_privs already set)."""
    if _FILTER is None:
        raise OSError(errno.ENOSYS, f"seccomp filter: no system call table for {os.uname().machine}")
    fprog, _ = _FILTER
    syscalls.prctl5(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
