"""Fixtures for the refbox tests: a Refbox with a per-session box root and cgroup name, boxes that are
cleaned up even when a test fails, and tiny C programs compiled once."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from reliability.refbox.box import Refbox
from reliability.targets.base import Limits

PID = os.getpid()
# Box numbers (and so box uids 60000+N) picked from the pid: other engineers' tests run concurrently.
BOX_A = 600 + (PID % 190) * 2
BOX_B = BOX_A + 1

C_SOURCE = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "hello";
    if (!strcmp(mode, "hello")) { printf("hello from C\n"); return 0; }
    if (!strcmp(mode, "spin")) { volatile unsigned long n = 0; for (;;) n++; }
    if (!strcmp(mode, "alloc")) {  /* touch every page so the memory is really charged */
        for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); }
    }
    if (!strcmp(mode, "segv")) { volatile int *p = 0; return *p; }
    if (!strcmp(mode, "abort")) abort();
    if (!strcmp(mode, "flood")) { char buf[4096]; memset(buf, 'x', sizeof buf); for (;;) fwrite(buf, 1, sizeof buf, stdout); }
    return 2;
}
"""

# Set for this host. Under qemu's TCG (nox -s tests_cgroup_v2) a CPU is 15-40 times slower, and the
# VM's suite stretches them, so that a program's verdict still depends on what it does, not on the CPU.
TIME_SCALE = float(os.environ.get("REFBOX_TEST_TIME_SCALE", "1"))
LIMITS = Limits(cpu_s=1.0 * TIME_SCALE, wall_s=3.0 * TIME_SCALE, mem_mb=64, processes=16, output_kb=64)


def wait_until(predicate, what: str, tries: int = 1000) -> None:
    """Poll a condition the kernel reaches asynchronously (a hang guard, not a timing assertion)."""
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture(scope="module")
def refbox() -> Iterator[Refbox]:
    root = tempfile.mkdtemp(prefix=f"refbox-test-{PID}-")
    os.chmod(root, 0o755)  # box uids must reach their box
    rb = Refbox(box_root=root, cgroup_name=f"refbox-test-{PID}", quota_mb=32)
    try:
        yield rb
    finally:
        try:
            rb.recover()  # everything the module's tests left, however they ended
        finally:
            shutil.rmtree(root, ignore_errors=True)
            for d in rb.cgroup_roots():
                if os.path.isdir(d):
                    os.rmdir(d)


@pytest.fixture
def box(refbox: Refbox) -> Iterator[int]:
    refbox.init(BOX_A)
    try:
        yield BOX_A
    finally:
        if not refbox.cleanup(BOX_A).ok:
            refbox.recover(BOX_A)


@pytest.fixture(scope="module")
def c_program() -> Iterator[str]:
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    work = tempfile.mkdtemp(prefix=f"refbox-c-{PID}-")
    try:
        src = os.path.join(work, "prog.c")
        with open(src, "w") as f:
            f.write(C_SOURCE)
        subprocess.run(["gcc", "-O1", "-o", os.path.join(work, "prog"), src], check=True)
        yield os.path.join(work, "prog")
    finally:
        shutil.rmtree(work)


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, it was read
        return False
