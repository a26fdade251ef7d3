"""The fleet: provision hosts and run stages on all of them with Ansible, then gate on the whole.

`reliability fleet provision -i INV` and `reliability fleet run -i INV --stages stress,leaks` drive
playbooks/provision.yml and playbooks/reliability.yml (shipped in this package) through ansible-runner. Every inventory host ends
up with a verdict in reports/<host>/: its stages' JUnit, and a `fleet` suite that is an error when the
host was unreachable, its play failed, or the play never finished. Nothing is skipped silently.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from reliability.artifact import ENV as ARTIFACT_ENV
from reliability.artifact import PROPERTY
from reliability.artifact import resolve as resolve_artifact_version
from reliability.errors import UsageError
from reliability.fleet.ansible import PLAYBOOKS, PlayOutcome, ansible_tool, new_ident, run_playbook
from reliability.fleet.junit import FLEET_SUITE, write_host_suite
from reliability.fleet.merge import write_merged_junit
from reliability.fleet.ssh import refuse_loosened, strict_env
from reliability.fleet.wheelhouse import build_wheelhouse
from reliability.profiles import PROFILES

DEFAULT_INVENTORY = PLAYBOOKS / "inventory" / "local.yml"


@dataclass
class FleetResult:
    outcome: PlayOutcome
    problems: dict[str, str]  # host -> reason; empty when every host ran its play to the end

    @property
    def ok(self) -> bool:
        return self.outcome.status == "successful" and not self.problems and not self.outcome.leftovers


def inventory_hosts(inventory: str | Path) -> list[str]:
    """Every host the inventory names: the ones the play never reached count as much as the rest."""
    return sorted(inventory_hostvars(inventory))


def inventory_hostvars(inventory: str | Path) -> dict[str, dict]:
    """host -> its variables, as Ansible merges them; a UsageError for no hosts or a bad inventory."""
    path = Path(inventory)
    if not path.exists():
        raise UsageError(f"inventory {inventory} does not exist")
    tool = ansible_tool("ansible-inventory")
    done = subprocess.run([tool, "-i", str(path), "--list"], capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"inventory {inventory} is unreadable: {' '.join(done.stderr.split())[:300]}")
    hostvars = json.loads(done.stdout).get("_meta", {}).get("hostvars", {})
    if not hostvars:
        raise UsageError(f"inventory {inventory} names no hosts")
    return hostvars


def _ssh_env(hostvars: dict[str, dict], known_hosts: str | Path | None) -> dict[str, str]:
    """With known hosts given, ssh trusts them alone, and an inventory that would loosen that is refused."""
    if known_hosts is None:
        return {}
    refuse_loosened(hostvars)
    return strict_env(known_hosts)


def provision(
    inventory: str | Path,
    *,
    wheelhouse: Path | None = None,
    extravars: dict | None = None,
    timeout: int | None = None,
    echo=print,
    work_root: Path | None = None,
    known_hosts: str | Path | None = None,
) -> FleetResult:
    hostvars = inventory_hostvars(inventory)
    env = _ssh_env(hostvars, known_hosts)
    wheelhouse = wheelhouse or build_wheelhouse()
    variables = {
        "reliability_wheelhouse": str(wheelhouse.resolve()),
        "reliability_source_hash": _wheelhouse_hash(wheelhouse),
        **(extravars or {}),
    }
    outcome = run_playbook(
        "provision.yml", inventory, variables, timeout=timeout, echo=echo, work_root=work_root, env=env
    )
    return FleetResult(outcome, outcome.host_problems(sorted(hostvars)))


def _wheelhouse_hash(wheelhouse: Path) -> str:
    marker = wheelhouse / "COMPLETE"
    return marker.read_text().strip() if marker.exists() else wheelhouse.resolve().name


def run(
    inventory: str | Path,
    stages: list[str],
    *,
    profile: str,
    reports_dir: Path,
    run_args: list[str] | None = None,
    timeout: int | None = None,
    cancel: threading.Event | None = None,
    echo=print,
    work_root: Path | None = None,
    known_hosts: str | Path | None = None,
    artifact_version: str | None = None,
    target: str | None = None,
) -> FleetResult:
    """Run the stages on every host at once; fetch to reports_dir/<host>/; a fleet suite per host.

    artifact_version: the deploy under test, in every host's reports (reliability/artifact.py).
    target: the sandbox on the hosts (default: each host's reliability_target, else builtin); a target
    file on the controller is copied to every host."""
    if not stages:
        raise UsageError("--stages names no stage")
    from reliability import stages as stage_registry

    stages = stage_registry.expand(stages)  # "all" stands for every stage
    for name in stages:
        stage_registry.get(name)  # an unknown stage fails here, before any host is touched
    on_hosts = {"reliability_target": _target_for_hosts(target)} if target else {}
    hostvars = inventory_hostvars(inventory)
    hosts = sorted(hostvars)
    env = _ssh_env(hostvars, known_hosts)
    if artifact_version:
        run_args = [*(run_args or []), "--artifact-version", artifact_version]
    reports_dir = reports_dir.resolve()
    reports_dir.mkdir(parents=True, exist_ok=True)
    ident = new_ident("fleet")
    variables = {
        **on_hosts,
        "run_id": ident,
        "stages": stages,
        "profile": profile,
        "run_args": run_args or [],
        "controller_reports": str(reports_dir),
    }
    outcome = run_playbook(
        "reliability.yml",
        inventory,
        variables,
        timeout=timeout,
        cancel=cancel,
        echo=echo,
        ident=ident,
        work_root=work_root,
        env=env,
    )
    if outcome.status in ("canceled", "timeout"):
        stop(inventory, ident, echo=echo, work_root=work_root, env=env)
    problems = outcome.host_problems(hosts)
    if outcome.leftovers:
        for host in hosts:
            problems.setdefault(host, f"processes left behind: {'; '.join(outcome.leftovers)[:300]}")
    properties = {PROPERTY: artifact_version} if artifact_version else {}
    for host in hosts:
        write_host_suite(reports_dir, host, problems.get(host), "reliability.yml", properties)
    return FleetResult(outcome, problems)


def _target_for_hosts(target: str) -> str:
    """A target name as it is, a target file as its absolute path on the controller (the play copies it)."""
    if target.endswith((".yml", ".yaml")) or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"--target {target}: no such target file")
        return str(path.resolve())
    from reliability.targets import TARGETS

    if target not in TARGETS:
        raise UsageError(
            f"unknown target {target!r} (choose from {', '.join(TARGETS)}, or a target file .yml)"
        )
    return target


def stop(
    inventory: str | Path, ident: str, echo=print, work_root: Path | None = None, env: dict | None = None
) -> PlayOutcome:
    """End a cancelled run's processes on every host and recover the boxes they held."""
    outcome = run_playbook(
        "stop.yml", inventory, {"run_id": ident}, timeout=300, echo=echo, work_root=work_root, env=env
    )
    if outcome.status != "successful":
        echo(f"fleet: stopping run {ident} did not finish cleanly ({outcome.status})")
    return outcome


def register(subparsers) -> None:
    """Add `reliability fleet provision|run` to the CLI's subparsers."""
    fleet = subparsers.add_parser("fleet", help="provision hosts and run stages across them with Ansible")
    actions = fleet.add_subparsers(dest="fleet_action", metavar="{provision,run}")
    actions.required = True
    for name in ("provision", "run"):
        p = actions.add_parser(name, help=f"{name} on every inventory host")
        p.add_argument("-i", "--inventory", default=str(DEFAULT_INVENTORY), help="Ansible inventory")
        p.add_argument("--timeout", type=int, help="end the play after this many seconds (a failure)")
        p.add_argument(
            "--known-hosts",
            metavar="FILE",
            help="trust these host keys alone (strict checking; an inventory loosening it is refused)",
        )
        p.set_defaults(func=_cmd_fleet)
        if name == "run":
            p.add_argument("--stages", required=True, help="comma-separated stages, e.g. stress,leaks")
            p.add_argument("--profile", default="smoke", choices=PROFILES)
            p.add_argument("--reports", default="reports", help="controller dir; each host gets <host>/")
            p.add_argument("--merged", help="also write all hosts' JUnit merged into this file")
            p.add_argument("--target", help="sandbox under test on every host: a name or a target file here")
            p.add_argument(
                "--artifact-version",
                help=f"the deployed artifact's version, into every host's reports (default: ${ARTIFACT_ENV})",
            )
            p.add_argument("run_args", nargs="*", help="after --: passed to `reliability run` on each host")


def _cmd_fleet(args: argparse.Namespace) -> int:
    from reliability.gate import format_table, gate

    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    if args.fleet_action == "provision":
        result = provision(args.inventory, timeout=args.timeout, known_hosts=args.known_hosts)
        _print_problems(result)
        print(f"fleet provision: {'PASSED' if result.ok else 'FAILED'} ({_changed(result)} changed)")
        return 0 if result.ok else 1
    from reliability import stages as stage_registry

    stages = stage_registry.expand([s for s in args.stages.split(",") if s])
    reports = Path(args.reports)
    result = run(
        args.inventory,
        stages,
        profile=args.profile,
        reports_dir=reports,
        run_args=list(args.run_args or []),
        timeout=args.timeout,
        known_hosts=args.known_hosts,
        artifact_version=resolve_artifact_version(args.artifact_version),
        target=args.target,
    )
    _print_problems(result)
    verdict = gate(reports, expect=[*stages, FLEET_SUITE])  # every host, every stage, and the play
    print(format_table(verdict))
    if args.merged:
        print(f"merged JUnit: {write_merged_junit(reports, Path(args.merged))}")
    return 0 if result.ok and verdict.ok else 1


def _changed(result: FleetResult) -> int:
    return sum((result.outcome.stats or {}).get("changed", {}).values())


def _print_problems(result: FleetResult) -> None:
    for host, problem in sorted(result.problems.items()):
        print(f"fleet: {host}: {problem}")
    for leftover in result.outcome.leftovers:
        print(f"fleet: left behind after the play and ended: {leftover}")
    if result.outcome.status != "successful":
        print(
            f"fleet: ansible-runner status {result.outcome.status}; artifacts in {result.outcome.private_data_dir}"
        )
