"""sshd instances on 127.0.0.1 that play a fleet's hosts, for the fleet tests (test_fleet_ssh.py and
test_preprod_workflow.py). Both "hosts" are this machine, so each gets its own home, box range and
cgroup name through host vars. Nothing is sent to any address but loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def skip_unless_ready() -> None:
    """Skip the calling test module, with the reason, when a fleet over SSH cannot run here."""
    if os.geteuid() != 0:
        pytest.skip(
            "skipped: the fleet tests run stages on the built-in sandbox, which needs root",
            allow_module_level=True,
        )
    if not os.path.exists(SSHD):
        pytest.skip("skipped: no sshd (apt-get install openssh-server)", allow_module_level=True)
    pytest.importorskip("ansible_runner", reason="skipped: no ansible-runner (pip install '.[fleet]')")


def free_port(candidates: Iterable[int] = (0,)) -> int:
    """The first of `candidates` free on 127.0.0.1 (0: any the kernel picks)."""
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port among {list(candidates)}")


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text(errors='replace')[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            try:  # a short pause that also notices sshd exiting
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
    raise RuntimeError(f"sshd on port {port} never accepted a connection")


def keypair(path: Path) -> Path:
    """A fresh ed25519 key without a passphrase at `path` (and `path`.pub)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class Sshd:
    """One sshd -D on 127.0.0.1, its own config, host key and log; stopped by its pid."""

    def __init__(self, work: Path, name: str, authorized_keys: Path, port: int = 0):
        self.dir = work / f"sshd-{name}"
        self.dir.mkdir()
        self.port = port or free_port()
        self.host_key = keypair(self.dir / "host_key")
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\nAuthorizedKeysFile {authorized_keys}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n"
        )
        self.log = self.dir / "sshd.log"
        self.proc = subprocess.Popen([SSHD, "-D", "-f", str(self.config), "-E", str(self.log)])
        _wait_for_port(self.port, self.proc, self.log)

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {(self.dir / 'host_key.pub').read_text().strip()}\n"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def sshd_hosts(
    work: Path, names: Iterable[str], authorized_keys: Path, ports: range | None = None
) -> Iterator[dict]:
    """name -> a running Sshd for each name (each on the first free port of `ports`, else any), all
    stopped afterwards."""
    made_run_sshd = not os.path.isdir("/run/sshd")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    daemons: dict[str, Sshd] = {}
    try:
        for name in names:
            daemons[name] = Sshd(work, name, authorized_keys, free_port(ports) if ports else 0)
        yield daemons
    finally:
        for daemon in daemons.values():
            daemon.stop()
        if made_run_sshd:
            shutil.rmtree("/run/sshd", ignore_errors=True)


def host_vars(daemon: Sshd, home: Path, box_base: int, cgroup_name: str) -> dict:
    """One loopback host's inventory variables: root over SSH, its own home, boxes and cgroup, and
    Ansible's remote temp dir under its home (nothing of a test left in /tmp)."""
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": daemon.port,
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_remote_tmp": str(home / "ansible-tmp"),
        "reliability_home": str(home),
        "reliability_box_base": box_base,
        "reliability_target_options": {"box_root": str(home / "boxes"), "cgroup_name": cgroup_name},
    }


def recover_boxes(home: Path, cgroup_name: str) -> None:
    """Whatever a failed run left on a host: its box mounts and cgroups, through the host's own venv."""
    cli = home / "venv" / "bin" / "reliability"
    if cli.exists():
        subprocess.run(
            [str(cli), "box", "recover", "--root", str(home / "boxes"), "--cgroup-name", cgroup_name],
            capture_output=True,
        )
