"""The refbox jail, seen from inside a real run: namespaces, minimal root, no privileges, allow-listed env."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading

import pytest
from refbox_fixtures import LIMITS, box, refbox, wait_until  # noqa: F401 - fixtures

from reliability.refbox import isolation, mounts, syscalls

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces, mounts and cgroups need root")


def status_fields(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_program_has_no_privileges_and_its_own_namespaces(refbox, box):
    script = "cat /proc/self/status; echo pid=$$; echo host=$(hostname); echo net=$(cat /proc/net/dev | tail -n +3 | cut -d: -f1)"
    result = refbox.run(box, ["/bin/sh", "-c", script], LIMITS)
    assert result.verdict == "OK", result
    fields = {k: v.strip() for k, v in status_fields(result.stdout).items()}
    uid = str(refbox.uid(box))
    assert fields["Uid"].split() == [uid] * 4 and fields["Gid"].split() == [uid] * 4
    assert fields["Groups"] == ""
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(fields[cap], 16) == 0, (cap, fields[cap])
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"  # the filter that refuses namespaces (refbox/seccomp.py)
    assert "pid=2" in result.stdout  # pid 1 is the jail's init: a new pid namespace
    assert "host=box" in result.stdout  # a new UTS namespace
    assert "net=lo" in result.stdout.replace(" ", "")  # a new network namespace: loopback only


def test_root_is_minimal_and_read_only_with_a_private_tmp(refbox, box):
    secret_dir = f"/tmp/refbox-isolation-{os.getpid()}"
    os.makedirs(secret_dir, exist_ok=True)
    try:
        script = (
            f"ls /; ls -d {secret_dir} 2>&1; touch /usr/x 2>&1; echo tmp > /tmp/t && cat /tmp/t; "
            "echo box > here && cat here; ls /root 2>&1; true"
        )
        result = refbox.run(box, ["/bin/sh", "-c", script], LIMITS)
    finally:
        os.rmdir(secret_dir)
    assert result.verdict == "OK", result
    top = set(result.stdout.split("\n\n")[0].split())
    assert {"usr", "proc", "tmp", "dev", "etc"} <= top
    assert not top & {"root", "home", "var", "sys", "run", "srv"}, top
    assert f"{secret_dir}': No such file" in result.stdout  # the host's /tmp is not the jail's
    assert "Read-only file system" in result.stdout
    assert "tmp\n" in result.stdout and "box\n" in result.stdout
    assert not os.path.exists("/tmp/t") or os.stat("/tmp/t").st_uid != refbox.uid(box)
    assert os.path.exists(os.path.join(refbox.box_dir(box), "here"))  # the box is the writable work dir


# getpid through the i386 entry point: its numbers are not x86_64's, so the filter's rules would not
# apply to it; the filter kills the process instead.
I386_GETPID = (
    'int main(void) { int r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(20)); return r > 0 ? 0 : 3; }'
)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the i386 entry point exists on x86_64 only")
def test_a_foreign_architecture_system_call_kills_the_program(refbox, box, tmp_path):
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    (tmp_path / "i386.c").write_text(I386_GETPID)
    subprocess.run(["gcc", "-o", str(tmp_path / "i386"), str(tmp_path / "i386.c")], check=True)
    assert subprocess.run([str(tmp_path / "i386")]).returncode == 0  # outside the box the call works
    result = refbox.run(box, ["./i386"], LIMITS, {str(tmp_path / "i386"): "i386"})
    assert (result.verdict, result.signal) == ("RE", signal.SIGSYS), result


def sleeping(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "sleep":
                    found.append(pid)
        except OSError:
            pass
    return found


def test_jail_mounts_never_appear_in_the_host_mount_table(refbox, box):
    before = set(mounts.mount_points())
    seen: list[str] = []
    result: list = []
    thread = threading.Thread(target=lambda: result.append(refbox.run(box, ["sleep", "30"], LIMITS)))
    thread.start()
    try:
        wait_until(lambda: sleeping(refbox.box_pids(box)), "program exec'd")
        pids = refbox.box_pids(box)
        during = set(mounts.mount_points())
        # The jail is real: the program's own table has the private /proc and /tmp.
        seen += mounts.mount_points(f"/proc/{sleeping(pids)[0]}/mountinfo")
        for pid in pids:  # init's death ends the namespace: a later pid may be gone already
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
    finally:
        thread.join()
    assert "/proc" in seen and "/tmp" in seen and isolation.STAGING + "/usr" not in seen
    new = during - before
    assert not [
        p for p in new if p.startswith(refbox.box_root) or p.startswith(isolation.STAGING + "/usr")
    ], new
    assert result[0].verdict == "RE", result[0]


def test_environment_is_the_allow_list_and_rlimits_are_set(refbox, box):
    script = "env | cut -d= -f1 | sort; echo core=$(ulimit -c) files=$(ulimit -n) stack=$(ulimit -s) fsize=$(ulimit -f)"
    result = refbox.run(box, ["/bin/sh", "-c", script], LIMITS)
    assert result.verdict == "OK", result
    names = {line for line in result.stdout.splitlines() if line and "=" not in line}
    assert names <= set(isolation.ENV_ALLOWED) | {"HOME", "PWD", "SHLVL", "_"}, names
    assert f"core=0 files={isolation.OPEN_FILES} stack={isolation.STACK_MB * 1024}" in result.stdout
    assert f"fsize={LIMITS.output_kb * 1024 // 512}" in result.stdout  # sh reports 512-byte blocks


def test_clean_env_keeps_only_allowed_names():
    env = isolation.clean_env({"PATH": "/usr/bin", "LD_PRELOAD": "/evil.so", "HOME": "/root"}, "/b/1")
    assert env == {"PATH": "/usr/bin", "HOME": isolation.BOX_IN_JAIL}  # the host path is not in the jail


def test_the_box_is_at_slash_box_and_its_host_path_is_not_in_the_jail(refbox, box):
    host = refbox.box_dir(box)
    script = f'pwd; echo "home=$HOME"; echo x > /box/via-abs && echo wrote; ls -d {host} 2>&1; true'
    result = refbox.run(box, ["/bin/sh", "-c", script], LIMITS)
    assert result.verdict == "OK", result
    lines = result.stdout.splitlines()
    assert lines[:3] == ["/box", "home=/box", "wrote"], result.stdout
    assert "No such file" in lines[3], result.stdout
    with open(os.path.join(host, "via-abs")) as f:  # /box in the jail is the box directory on the host
        assert f.read() == "x\n"


def test_a_writable_mount_under_a_read_only_bind_is_read_only_in_the_jail(refbox, box):
    nested = f"/usr/local/lib/refbox-nested-{os.getpid()}"
    os.makedirs(nested)
    try:
        syscalls.mount("nested", nested, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "size=1m,mode=1777")
        try:
            script = f"touch {nested}/x 2>&1; grep ' {nested} ' /proc/self/mountinfo; true"
            result = refbox.run(box, ["/bin/sh", "-c", script], LIMITS)
            assert not os.path.exists(os.path.join(nested, "x"))
        finally:
            mounts.unmount(nested)
    finally:
        os.rmdir(nested)
    assert result.verdict == "OK", result
    assert "Read-only file system" in result.stdout, result.stdout
    options = result.stdout.splitlines()[-1].split()[5].split(",")  # the jail's view of that mount
    assert {"ro", "nosuid", "nodev"} <= set(options), result.stdout


def test_jail_for_java_finds_the_etc_pieces_its_symlinks_reach():
    java = "/usr/bin/java"
    if not os.path.exists(java):
        pytest.skip("no java installed")
    jail = isolation.jail_for(java)
    reached = [p for p in (os.path.realpath(java),) if p.startswith("/etc/")]
    assert "/usr" in jail.binds
    assert all(any(r.startswith(b) for b in jail.binds) for r in reached)
    if os.path.islink(java) and os.readlink(java).startswith("/etc/alternatives"):
        assert "/etc/alternatives" in jail.binds


def test_isolation_off_runs_on_the_host_root(refbox, box):
    refbox.isolate = False
    try:
        result = refbox.run(box, ["/bin/sh", "-c", "echo pid=$$; test -d /root && echo hostroot"], LIMITS)
    finally:
        refbox.isolate = True
    assert result.verdict == "OK" and "hostroot" in result.stdout and "pid=2\n" not in result.stdout, result
