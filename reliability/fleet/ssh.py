"""Strict host-key checking for a fleet run: only the host keys in one known_hosts file are trusted.

`--known-hosts FILE` (the deploy check's RELIABILITY_KNOWN_HOSTS) puts the options first on every ssh
command Ansible builds (ssh_args come before the inventory's common and extra args, and for ssh the
first value of an option wins), and refuses an inventory that tries to loosen them, so that a host whose
key is not in the file is unreachable, never trusted on first use.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from reliability.errors import UsageError

# ssh options an inventory may not set once the known hosts are given: each would loosen or replace ours.
_GUARDED_OPTIONS = ("stricthostkeychecking", "userknownhostsfile", "globalknownhostsfile", "updatehostkeys")
_GUARDED_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")


def strict_env(known_hosts: str | Path) -> dict[str, str]:
    """Environment for ansible-playbook: ssh trusts the keys in `known_hosts` alone and never asks."""
    path = Path(known_hosts)
    if not path.is_file() or path.stat().st_size == 0:
        raise UsageError(
            f"--known-hosts {known_hosts}: no such file, or it is empty (no host could be trusted)"
        )
    options = [
        "StrictHostKeyChecking=yes",
        f"UserKnownHostsFile={path.resolve()}",
        "GlobalKnownHostsFile=/dev/null",
        "UpdateHostKeys=no",  # never write to the file
        "BatchMode=yes",  # no prompt: a question is a failure
        "ControlMaster=auto",  # Ansible's own defaults, which ssh_args replaces
        "ControlPersist=60s",
    ]
    return {
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": " ".join(f"-o {shlex.quote(o)}" for o in options),
    }


def refuse_loosened(hostvars: Mapping[str, Mapping]) -> None:
    """A UsageError naming the first host whose variables would loosen or replace the strict options."""
    for host, variables in sorted(hostvars.items()):
        for name in ("ansible_host_key_checking", "ansible_ssh_host_key_checking"):
            if name in variables and str(variables[name]).lower() not in ("true", "yes", "1"):
                raise UsageError(
                    f"inventory host {host}: {name} is {variables[name]!r}; host keys are always checked"
                )
        if "ansible_ssh_args" in variables:
            raise UsageError(f"inventory host {host}: ansible_ssh_args would replace the strict ssh options")
        for name in _GUARDED_VARS:
            words = str(variables.get(name) or "").lower()
            for option in _GUARDED_OPTIONS:
                if option in words:
                    raise UsageError(
                        f"inventory host {host}: {name} sets {option}, which --known-hosts decides"
                    )
