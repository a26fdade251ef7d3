"""The supervisor: one per run. In C where a compiler is at hand (boxsup.c, spawned: refbox/boxinit.py),
else this Python one, forked from the calling (possibly multithreaded) pipeline.

caller ──spawn─> boxsup ──fork──> boxinit ──fork──> program      (isolated, in C: refbox/boxinit.py)
parent ──fork──> supervisor ──fork──> init ──fork──> program   (isolated, without a C compiler)
parent ──fork──> supervisor ──fork──> program                    (isolation off: host root, box uid only)

"parent" is the fork server when the pipeline runs one (refbox/forkserver.py), else the caller.

The supervisor watches wall time and the cgroup's CPU time, kills the whole cgroup at a limit and at
the end, and sends what it measured through a pipe; the verdict is decided by result_from, the same
for both supervisors (the Python one sends the Result as one JSON document, the C one its facts). Everything after
fork uses os-level calls only and ends in os._exit: another pipeline thread may have held a lock
(logging, an allocator in a library, a queue) at the moment of fork, and touching it would deadlock.
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reliability.refbox import boxinit, forkserver, isolation, seccomp, syscalls
from reliability.refbox.cgroups import Cgroups
from reliability.sandbox_values import Limits, Result

if TYPE_CHECKING:
    from reliability.refbox.phases import PhaseRecorder

STDOUT_KEEP = 4096
MIN_CHECK_S = 0.002  # never poll faster than this while the program runs
ANSWER_SLACK_S = 15.0  # how long past the wall limit the parent waits for the supervisor's answer


@dataclass(frozen=True)
class RunPlan:
    """Everything the supervisor needs, prepared by the parent before fork."""

    box_dir: str
    uid: int
    gid: int
    argv: list[str]
    env: dict[str, str]
    limits: Limits
    cgroup: str  # the run cgroup, relative to the hierarchy roots
    stdout_fd: int  # opened by the parent in the box, before the privilege drop
    stderr_fd: int
    isolate: bool = True  # namespaces, minimal root, no capabilities; False only to test the tests
    keep_orphans: bool = False  # defect.keep_orphans: the program outlives a dead supervisor (defects.py)
    seccomp: bool = True  # an isolated program may create no namespace (refbox/seccomp.py)
    boxinit: str | None = None  # the C init's binary (refbox/boxinit.py); None: the Python init below


def decide(
    tle: str | None,
    oom_kills: int,
    exit_code: int | None,
    sig: int | None,
    output_bytes: int,
    output_limit: int,
) -> tuple[str, str]:
    """Verdict and message. Order matters: TLE > MLE > OLE > RE > OK."""
    if tle:
        return "TLE", tle
    if oom_kills > 0:
        return "MLE", f"memory limit exceeded (cgroup oom_kill={oom_kills})"
    # Reaching the limit counts: RLIMIT_FSIZE stops a file exactly there, and a program that ignores
    # SIGXFSZ (every Python program does) sees EFBIG and may exit with a mere error code.
    if sig == signal.SIGXFSZ or output_bytes >= output_limit:
        return "OLE", f"output limit exceeded ({output_bytes} bytes written, limit {output_limit})"
    if sig is not None:
        return "RE", f"killed by signal {sig} ({signal.Signals(sig).name})"
    if exit_code:
        return "RE", f"exit code {exit_code}"
    return "OK", ""


def run_supervised(
    cgroups: Cgroups,
    plan: RunPlan,
    on_started: Callable[[int], None] | None = None,
    phases: PhaseRecorder | None = None,
) -> Result:
    """Start the supervisor, wait for its answer, and turn a missing answer into IE with the cause.

    Through the fork server when one runs in this process (forkserver.py: the cheap way), else by
    forking this process (the `reliability box` command, tests that build a Refbox by hand).
    """
    read_end, write_end = os.pipe()
    in_c = plan.isolate and plan.boxinit is not None
    try:
        pid, reply = (_start_c if in_c else _start_python)(cgroups, plan, write_end, phases)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    if on_started:
        on_started(pid)
    try:
        data, timed_out = _read_answer(read_end, plan.limits.wall_s + ANSWER_SLACK_S)
    finally:
        os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    status = forkserver.wait_status(reply) if reply is not None else os.waitpid(pid, 0)[1]
    text = ""
    if in_c:
        found = boxinit.facts(data)
        if found is not None:
            return Result(**_from_c_facts(cgroups, plan, found, pid))
        text = data.decode(errors="replace").strip()  # how it failed before its facts, if it could say
    else:
        try:
            return Result(**json.loads(data))
        except (ValueError, TypeError):
            pass
    if timed_out:
        cause = "supervisor gave no answer in time and was killed"
    elif status is None:
        cause = "supervisor gave no answer, and the fork server that started it is gone"
    elif os.WIFSIGNALED(status):
        cause = f"supervisor killed by signal {os.WTERMSIG(status)}"
    elif text:
        cause = f"supervisor: {text}"
    else:
        cause = f"supervisor exited with status {os.waitstatus_to_exitcode(status)} without a result"
    return Result(verdict="IE", message=cause, raw={"supervisor_pid": pid})


def _start_c(
    cgroups: Cgroups, plan: RunPlan, answer_fd: int, phases: PhaseRecorder | None
) -> tuple[int, None]:
    """The C supervisor (boxinit.py), spawned: no copy of this process."""
    argv = boxinit.command(plan.boxinit, plan, isolation.jail_for(plan.argv[0]), cgroups, phases, os.getpid())
    return boxinit.spawn(argv, (answer_fd, plan.stdout_fd, plan.stderr_fd)), None


def _start_python(
    cgroups: Cgroups, plan: RunPlan, answer_fd: int, phases: PhaseRecorder | None
) -> tuple[int, object]:
    """The Python supervisor: from the fork server where one runs (its reply gives the wait status),
    else forked from this process."""
    server = forkserver.current()
    if server is not None:
        try:
            return server.spawn(cgroups, plan, answer_fd, phases)
        except forkserver.ForkServerGone:
            pass
    caller = os.getpid()
    pid = os.fork()
    if pid == 0:
        _supervisor_main(cgroups, plan, answer_fd, phases, caller)  # never returns
    return pid, None


def _from_c_facts(cgroups: Cgroups, plan: RunPlan, facts: dict, pid: int) -> dict:
    """The Result document of a run the C supervisor reported (boxsup.c's facts)."""
    kind, _, value = facts["tle"].partition(" ")
    tle = _tle_message(kind, float(value), plan.limits) if kind else None
    setup_error = ""
    if facts["setup_error"]:
        setup_error = f"program setup failed: {facts['setup_error']}"
    elif facts["watch_error"]:
        setup_error = f"watching the run failed: {facts['watch_error']}"
    peak = int(facts["peak"])
    measured = Measured(
        wait_status=int(facts["status"]),
        maxrss_kb=int(facts["maxrss"]),
        peak_bytes=peak if peak >= 0 else None,
        cpu_ns=int(facts["cpu_ns"]),
        oom_kills=int(facts["oom"]),
        wall_s=float(facts["wall"]),
        tle=tle,
        setup_error=setup_error,
        killed=int(facts["killed"]),
        supervisor_pid=pid,
        remove_error=facts["remove_error"],
    )
    return result_from(cgroups, plan, measured)


def _tle_message(kind: str, used: float, limits: Limits) -> str:
    """The TLE message for the "cpu" or "wall" limit, whichever supervisor saw it reached."""
    if kind == "cpu":
        return f"cpu time limit exceeded ({used:.3f} s used, limit {limits.cpu_s:g} s)"
    return f"wall time limit exceeded ({used:.3f} s, limit {limits.wall_s:g} s)"


def _read_answer(fd: int, timeout: float) -> tuple[bytes, bool]:
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return b"".join(chunks), True
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


def _supervisor_main(
    cgroups: Cgroups, plan: RunPlan, answer_fd: int, phases: PhaseRecorder | None, caller: int
) -> None:
    """The supervisor: `caller` is the pid that forked it (taken before the fork: it may die at once)."""
    # A short life ending in os._exit leaves a collector nothing to give back, and its walk over the
    # parent's objects would copy their pages into this process (copy-on-write) for nothing.
    gc.disable()
    try:
        os.setsid()  # out of the pipeline's session: a terminal's Ctrl-C must not kill us mid-cleanup
        keep = sorted({answer_fd, plan.stdout_fd, plan.stderr_fd})
        # Other threads' pipes and files were inherited by fork; holding them would delay their EOFs.
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 20)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # an ignored SIGCHLD would break wait4
        enter = phases.enter if phases else _no_phase
        doc = _supervise(cgroups, plan, enter, caller)
        enter("verdict")
    except BaseException as e:  # noqa: B036 - the answer must be sent whatever happened
        doc = Result(verdict="IE", message=f"supervisor: {type(e).__name__}: {e}").to_dict()
    try:
        os.write(answer_fd, json.dumps(doc).encode())
    finally:
        os._exit(0)


class _Reaper:
    """Collects zombies (the supervisor is a child subreaper), keeping the main program's status."""

    def __init__(self, main: int):
        self.main = main
        self.status: int | None = None
        self.rusage: resource.struct_rusage | None = None

    def reap(self) -> None:
        while True:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.main:
                self.status, self.rusage = status, rusage

    def wait_main(self) -> None:
        if self.status is None:
            _, self.status, self.rusage = os.wait4(self.main, 0)

    def take_report(self, report: str) -> None:
        """Isolated runs: the program's own status and maxrss as init saw them, not init's.

        No report means init died first (killed from outside with the whole cgroup): its status stands.
        """
        fields = report.split()
        if len(fields) == 2:
            self.status = int(fields[0])
            self.rusage = _MaxRss(int(fields[1]))


@dataclass(frozen=True)
class _MaxRss:
    ru_maxrss: int


def _no_phase(phase: str) -> None:
    pass


def _supervise(cgroups: Cgroups, plan: RunPlan, enter: Callable[[str], None], caller: int) -> dict:
    enter("setup")
    # Orphaned descendants get re-parented to us, so we can reap what the cgroup kill leaves.
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    err_read, err_write = os.pipe()  # close-on-exec: EOF means exec succeeded
    report_read, report_write = os.pipe()  # init -> us: the program's wait status and rusage
    devnull = os.open("/dev/null", os.O_RDONLY)
    procs_files = cgroups.procs_files(plan.cgroup)
    jail = isolation.jail_for(plan.argv[0]) if plan.isolate else None
    if jail:
        syscalls.unshare(syscalls.CLONE_NEWPID)  # our next (and only) child is pid 1 of a new namespace
    me = os.pidfd_open(os.getpid())  # init's way to tell that we died before it could watch for it
    start = time.monotonic()
    child = os.fork()
    if child == 0:
        if jail:
            _init_main(plan, jail, procs_files, devnull, err_write, report_write, me)  # never returns
        _exec_program(plan, procs_files, devnull, err_write)  # never returns
    os.close(me)
    os.close(err_write)
    os.close(report_write)
    reaper = _Reaper(child)
    setup_error = _read_all(err_read)
    if setup_error:
        setup_error = f"program setup failed: {setup_error}"
    tle: str | None = None
    if not setup_error:
        try:
            enter("execute")
            tle = _watch(cgroups, plan, child, start, caller)
            if tle:
                enter("timeout")
        except OSError as e:  # still kill and collect below: the program must not outlive us
            setup_error = f"watching the run failed: {e}"
    end = time.monotonic()
    enter("cleanup")
    killed = cgroups.kill_all(plan.cgroup, reap=reaper.reap)
    reaper.wait_main()
    reaper.reap()
    if jail:
        reaper.take_report(_read_all(report_read))
    else:
        os.close(report_read)
    return _collect(cgroups, plan, reaper, tle, end - start, killed, setup_error)


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _watch(cgroups: Cgroups, plan: RunPlan, child: int, start: float, caller: int) -> str | None:
    """Sleep until the program exits or a limit is reached; return the TLE message, if any.

    The timeout is the earliest moment a limit could be reached (remaining CPU spread over every
    core), so a long run costs a handful of wake-ups, not one per millisecond.
    """
    ncpus = max(1, len(os.sched_getaffinity(0)))
    limits = plan.limits
    pidfd = os.pidfd_open(child)
    try:
        while True:
            # Against the pid that forked us, not our parent when the watch began: the caller may have
            # died during setup already (the crash stage kills it as soon as the program shows).
            if plan.keep_orphans and os.getppid() != caller:
                os._exit(0)  # the defect: our caller died, so we abandon the run and its program
            cpu = cgroups.cpu_usage_ns(plan.cgroup) / 1e9
            wall = time.monotonic() - start
            if cpu >= limits.cpu_s:
                return _tle_message("cpu", cpu, limits)
            if wall >= limits.wall_s:
                return _tle_message("wall", wall, limits)
            timeout = max(MIN_CHECK_S, min(limits.wall_s - wall, (limits.cpu_s - cpu) / ncpus))
            if plan.keep_orphans:
                timeout = min(timeout, 0.05)  # notice the caller's death soon (see above)
            if select.select([pidfd], [], [], timeout)[0]:
                return None
    finally:
        os.close(pidfd)


@dataclass(frozen=True)
class Measured:
    """What a supervisor saw of a run, before any judgement (result_from judges it)."""

    wait_status: int  # the program's, as its init saw it
    maxrss_kb: int
    peak_bytes: int | None  # the cgroup's record; None where the kernel keeps none
    cpu_ns: int
    oom_kills: int
    wall_s: float
    tle: str | None  # the limit the watch saw reached
    setup_error: str  # the program never ran, or the watch failed: IE
    killed: int  # processes the end-of-run kill found
    supervisor_pid: int
    remove_error: str  # the run cgroup could not be removed


def _collect(
    cgroups: Cgroups,
    plan: RunPlan,
    reaper: _Reaper,
    tle: str | None,
    wall_s: float,
    killed: list[int],
    setup_error: str,
) -> dict:
    peak = cgroups.peak_memory_bytes(plan.cgroup)
    cpu_ns, oom = cgroups.cpu_usage_ns(plan.cgroup), cgroups.oom_kills(plan.cgroup)
    remove_error = ""
    try:
        cgroups.remove(plan.cgroup)
    except Exception as e:  # the verdict stands; cleanup() will meet the leftover and report it
        remove_error = str(e)
    maxrss = reaper.rusage.ru_maxrss if reaper.rusage else 0
    measured = Measured(
        reaper.status or 0,
        maxrss,
        peak,
        cpu_ns,
        oom,
        wall_s,
        tle,
        setup_error,
        len(killed),
        os.getpid(),
        remove_error,
    )
    return result_from(cgroups, plan, measured)


def result_from(cgroups: Cgroups, plan: RunPlan, m: Measured) -> dict:
    """The Result document of a run, from what either supervisor measured: the verdict is decided here,
    the same for both. The program's output is read from its files (the caller's fds)."""
    limits, tle, cpu_ns, wall_s, status = plan.limits, m.tle, m.cpu_ns, m.wall_s, m.wait_status
    peak_kb = m.peak_bytes // 1024 if m.peak_bytes is not None else m.maxrss_kb
    exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    output_bytes = max(os.fstat(plan.stdout_fd).st_size, os.fstat(plan.stderr_fd).st_size)
    stdout = os.pread(plan.stdout_fd, STDOUT_KEEP, 0).decode(errors="replace")
    # A program may finish between two checks already over a limit: the final figures decide.
    if not tle and cpu_ns / 1e9 > limits.cpu_s:
        tle = _tle_message("cpu", cpu_ns / 1e9, limits)
    if not tle and wall_s > limits.wall_s:
        tle = _tle_message("wall", wall_s, limits)
    if not tle and sig in (signal.SIGXCPU, signal.SIGKILL) and cpu_ns / 1e9 >= limits.cpu_s:
        tle = "cpu time limit exceeded (RLIMIT_CPU backstop)"
    if m.setup_error:
        verdict, message = "IE", m.setup_error
    else:
        verdict, message = decide(tle, m.oom_kills, exit_code, sig, output_bytes, limits.output_kb * 1024)
    if m.remove_error:
        message = f"{message}; run cgroup not removed: {m.remove_error}".lstrip("; ")
    raw = {
        "cgroup_version": cgroups.version,
        "cpu_ns": cpu_ns,
        "oom_kill": m.oom_kills,
        "maxrss_kb": m.maxrss_kb,
        "output_bytes": output_bytes,
        "wait_status": status,
        "processes_killed": m.killed,
        "supervisor_pid": m.supervisor_pid,
        "run_cgroup_removed": not m.remove_error,
    }
    return Result(
        verdict=verdict,
        cpu_s=round(cpu_ns / 1e9, 6),
        wall_s=round(wall_s, 6),
        peak_mem_kb=peak_kb,
        exit_code=exit_code,
        signal=sig,
        message=message,
        stdout=stdout,
        raw=raw,
    ).to_dict()


def _join_cgroup(procs_files: list[str]) -> None:
    for path in procs_files:  # "0" is the writer itself, in any pid namespace
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, b"0")
        os.close(fd)


def _init_main(
    plan: RunPlan,
    jail: isolation.Jail,
    procs_files: list[str],
    devnull: int,
    err_fd: int,
    report_fd: int,
    supervisor: int,
) -> None:
    """pid 1 of the run's pid namespace: build the jail, fork the program, report how it ended."""
    step = "die with the supervisor"
    try:
        if not plan.keep_orphans:
            # The supervisor alone enforces the limits: once it is dead, nothing may run on unbounded.
            # init's death ends the whole pid namespace, the program and anything it forked with it.
            syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
            if select.select([supervisor], [], [], 0)[0]:  # it died before the line above took hold
                os._exit(127)
        step = "setsid"
        os.setsid()
        # init never execs, so close-on-exec does not help: the supervisor's answer pipe held open here
        # would hide the supervisor's death from the parent.
        low = 3
        for fd in sorted({err_fd, report_fd, devnull, plan.stdout_fd, plan.stderr_fd}):  # not `supervisor`
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 20)
        step = "join run cgroup"  # first, so every descendant is born inside it
        _join_cgroup(procs_files)
        step = "enter namespaces and root"
        isolation.enter(jail, plan.box_dir)
        step = "fork program"
        program = os.fork()
        if program == 0:
            os.close(report_fd)
            _exec_program(plan, [], devnull, err_fd)  # never returns
        os.close(err_fd)  # the program's copy alone now decides when the supervisor sees EOF
        while True:  # as init we also inherit every orphan of the namespace: reap them on the way
            pid, status, rusage = os.wait4(-1, 0)
            if pid == program:
                break
        os.write(report_fd, f"{status} {rusage.ru_maxrss}".encode())
        os._exit(0)
    except BaseException as e:  # noqa: B036 - reported to the supervisor, then exit
        try:
            os.write(err_fd, f"{step}: {e}".encode()[:2000])
        finally:
            os._exit(127)


def _exec_program(plan: RunPlan, procs_files: list[str], devnull: int, err_fd: int) -> None:
    step = "setsid"
    try:
        if procs_files:  # an isolated program's init already made the session and joined the cgroup
            os.setsid()
            step = "join run cgroup"  # before exec, so every descendant is born inside it
            _join_cgroup(procs_files)
        step = "redirect stdio"
        os.dup2(devnull, 0)
        os.dup2(plan.stdout_fd, 1)
        os.dup2(plan.stderr_fd, 2)
        # The originals may be inheritable (the fork server receives them over a socket, without
        # close-on-exec): an fd of the sandbox's must not reach the program.
        for fd in {plan.stdout_fd, plan.stderr_fd} - {0, 1, 2}:
            os.close(fd)
        step = "reset signals"
        # exec keeps ignored signals ignored: Python ignores SIGPIPE and SIGXFSZ (an over-long output
        # would be EFBIG instead of SIGXFSZ), and whatever the pipeline ignores when it forks (a
        # SIGQUIT, say) must not reach the program either. Every one, as the C supervisor does.
        for sig in boxinit.ALL_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        step = "set rlimits"
        limits = plan.limits
        env = plan.env
        if plan.isolate:  # cwd is the box already (init pivoted there)
            isolation.set_rlimits(limits)
            step = "drop privileges"
            isolation.drop_privileges(plan.uid, plan.gid)
            if plan.seccomp:  # last: the filter also binds this process's remaining setup
                step = "install seccomp filter"
                seccomp.install()
            env = isolation.clean_env(env, plan.box_dir)
        else:
            cpu_backstop = math.ceil(limits.cpu_s + 1)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_backstop, cpu_backstop + 1))
            output = limits.output_kb * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            step = "drop privileges"
            os.setgroups([])
            os.setresgid(plan.gid, plan.gid, plan.gid)
            os.setresuid(plan.uid, plan.uid, plan.uid)
            step = "chdir to box"
            os.chdir(plan.box_dir)
        step = f"exec {plan.argv[0]}"
        os.execvpe(plan.argv[0], plan.argv, env)
    except BaseException as e:  # noqa: B036 - reported to the supervisor, then exit
        try:
            os.write(err_fd, f"{step}: {e}".encode()[:2000])
        finally:
            os._exit(127)
