"""Drive one playbook with ansible-runner and say, per host, what happened.

Each run gets its own private data dir and a unique ident. Every process the run starts (ansible-playbook,
its forks, ssh and any ssh ControlPersist master) inherits an environment marker carrying the ident, so
after the run, and above all after a cancel or timeout, the leftovers can be found exactly, ended, and
counted: "nothing left behind" is checked, not assumed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from reliability.errors import UsageError

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"  # package data: found in a wheel too
MARKER = "RELIABILITY_FLEET_IDENT"


@dataclass
class HostResult:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class PlayOutcome:
    playbook: str
    ident: str
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    rc: int | None
    stats: dict | None
    hosts: dict[str, HostResult]
    leftovers: list[str]  # processes of this run still alive after it ended (each was then killed)
    private_data_dir: Path

    def host_problems(self, inventory_hosts: list[str]) -> dict[str, str]:
        """host -> why it did not succeed. No stats at all means the play did not finish: all fail."""
        problems: dict[str, str] = {}
        for host in inventory_hosts:
            result = self.hosts.get(host, HostResult(host))
            detail = "; ".join(result.problems[-3:])
            if self.stats is None:
                problems[host] = (
                    f"play did not finish ({self.status}, no stats){': ' + detail if detail else ''}"
                )
            elif host in self.stats.get("dark", {}) or result.unreachable:
                problems[host] = f"host unreachable: {detail or 'no detail'}"
            elif host in self.stats.get("failures", {}) or result.failed:
                problems[host] = f"play failed: {detail or 'no detail'}"
            elif host not in self.stats.get("processed", {}):
                problems[host] = "host was not processed by the play"
        return problems


class EventCollector:
    """ansible-runner event handler: per-host counts and the messages of failed and unreachable tasks."""

    def __init__(self, echo: Callable[[str], None] | None = None):
        self.hosts: dict[str, HostResult] = {}
        self.echo = echo
        self._lock = threading.Lock()

    def __call__(self, event: Mapping) -> bool:
        data = event.get("event_data") or {}
        host = data.get("host")
        kind = event.get("event", "")
        if not host or not kind.startswith("runner_on_"):
            return True
        with self._lock:
            result = self.hosts.setdefault(host, HostResult(host))
            res = data.get("res") or {}
            if kind == "runner_on_ok":
                result.ok += 1
                result.changed += bool(res.get("changed"))
            elif kind == "runner_on_failed" and not data.get("ignore_errors"):
                result.failed += 1
                result.problems.append(f"{data.get('task', '?')}: {_message(res)}")
            elif kind == "runner_on_unreachable":
                result.unreachable = True
                result.problems.append(f"{data.get('task', '?')}: {_message(res)}")
            else:
                return True
        if self.echo and kind != "runner_on_ok":
            self.echo(f"{host}: {kind.removeprefix('runner_on_')}: {result.problems[-1]}")
        return True  # keep the event in the artifacts too


def _message(res: Mapping) -> str:
    parts = [str(res.get("msg") or "")]
    stderr = str(res.get("stderr") or "").strip()
    if stderr:
        parts.append(stderr.splitlines()[-1])
    return " ".join(" ".join(parts).split())[:400] or "no message"


def ansible_tool(name: str) -> str:
    """The path of an Ansible command: on PATH, or next to this Python (a venv not activated, whose
    bin/ is then put on PATH for ansible-runner too); else a UsageError saying what to install."""
    found = shutil.which(name)
    if found:
        return found
    venv_bin = os.path.dirname(sys.executable)
    found = shutil.which(name, path=venv_bin)
    if not found:
        raise UsageError(
            f"the fleet needs {name}, on PATH or in {venv_bin}: pip install 'reliability[fleet]'"
        )
    os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    return found


def run_playbook(
    playbook: str,
    inventory: str | Path,
    extravars: Mapping[str, object],
    *,
    timeout: int | None = None,
    cancel: threading.Event | None = None,
    echo: Callable[[str], None] | None = None,
    work_root: Path | None = None,
    keep: bool = False,
    ident: str | None = None,
    env: Mapping[str, str] | None = None,
) -> PlayOutcome:
    """env: more environment for ansible-playbook (e.g. the strict ssh options of ssh.py)."""
    try:
        import ansible_runner
    except ImportError as exc:
        raise UsageError("the fleet needs ansible-runner: pip install 'reliability[fleet]'") from exc
    ansible_tool("ansible-playbook")  # ansible-runner starts it by name, from PATH
    ident = ident or new_ident(Path(playbook).stem)
    private = Path(tempfile.mkdtemp(prefix=f"fleet-{ident}-", dir=work_root))
    cancel = cancel or threading.Event()
    collector = EventCollector(echo)
    local_tmp = private / "tmp"
    local_tmp.mkdir()
    control_dir = _control_dir(private)
    envvars = {
        **(env or {}),
        MARKER: ident,
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),  # our masters live with our run
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
        # The controller's temporary files live with the run too, also the module payloads a killed
        # module (a cancel, a timeout) leaves: Ansible unpacks them in the system temp dir ($TMPDIR).
        "ANSIBLE_LOCAL_TEMP": str(local_tmp),
        "TMPDIR": str(local_tmp),
    }
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(private),
        project_dir=str(PLAYBOOKS),
        playbook=playbook,
        inventory=str(Path(inventory).resolve()),
        extravars=dict(extravars),
        ident=ident,
        envvars=envvars,
        event_handler=collector,
        cancel_callback=cancel.is_set,
        timeout=timeout,
        quiet=True,
    )
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        cancel.set()  # the runner kills the ansible-playbook process group on its next poll
        thread.join()
    end_ssh_masters(ident, control_dir)  # expected after any run: ControlPersist keeps them a while
    if control_dir.parent != private:
        shutil.rmtree(control_dir, ignore_errors=True)
    leftovers = end_leftovers(ident)
    outcome = PlayOutcome(
        playbook=playbook,
        ident=ident,
        status=runner.status,
        rc=runner.rc,
        stats=runner.stats,
        hosts=collector.hosts,
        leftovers=leftovers,
        private_data_dir=private,
    )
    if not keep and runner.status == "successful":
        shutil.rmtree(private, ignore_errors=True)
    return outcome


# A unix socket's path has room for 107 bytes; ssh adds a 10-character hash and, while it binds, a
# 17-character temporary suffix to the control path directory.
_SOCKET_PATH_MAX = 107 - 1 - 10 - 17


def _control_dir(private: Path) -> Path:
    """Where this run's ssh control sockets go: in its private dir, unless that path is too long for a
    socket (a deep TMPDIR), then in a short directory of its own, removed after the run."""
    inside = private / "cp"
    if len(str(inside).encode()) <= _SOCKET_PATH_MAX:
        return inside
    return Path(tempfile.mkdtemp(prefix="fleet-cp-", dir="/tmp"))


def new_ident(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


def processes_of(ident: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(MARKER) == ident:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def end_ssh_masters(ident: str, control_dir: Path) -> None:
    masters = [p for p in processes_of(ident) if str(control_dir) in " ".join(_cmdline(p))]
    _end(masters)


def end_leftovers(ident: str, grace_s: float = 3.0) -> list[str]:
    """End every process still carrying this run's ident; return what they were (empty: clean)."""
    procs = processes_of(ident)
    described = [f"pid {p.pid} {' '.join(_cmdline(p))[:120]}" for p in procs]
    _end(procs, grace_s)
    deadline = time.monotonic() + grace_s
    while processes_of(ident) and time.monotonic() < deadline:
        time.sleep(0.1)
    still = processes_of(ident)
    if still:
        described.append(f"could not end {len(still)} process(es): {[p.pid for p in still]}")
    return described


def _end(procs: list[psutil.Process], grace_s: float = 3.0) -> None:
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_s)


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ["?"]
