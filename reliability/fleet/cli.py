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

from reliability.errors import UsageError
from reliability.fleet.ansible import PLAYBOOKS, PlayOutcome, ansible_tool, new_ident, run_playbook
from reliability.fleet.junit import write_host_suite
from reliability.fleet.merge import write_merged_junit
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
    path = Path(inventory)
    if not path.exists():
        raise UsageError(f"inventory {inventory} does not exist")
    tool = ansible_tool("ansible-inventory")
    done = subprocess.run([tool, "-i", str(path), "--list"], capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"inventory {inventory} is unreadable: {' '.join(done.stderr.split())[:300]}")
    hosts = sorted(json.loads(done.stdout).get("_meta", {}).get("hostvars", {}))
    if not hosts:
        raise UsageError(f"inventory {inventory} names no hosts")
    return hosts


def provision(
    inventory: str | Path,
    *,
    wheelhouse: Path | None = None,
    extravars: dict | None = None,
    timeout: int | None = None,
    echo=print,
    work_root: Path | None = None,
) -> FleetResult:
    hosts = inventory_hosts(inventory)
    wheelhouse = wheelhouse or build_wheelhouse()
    variables = {
        "reliability_wheelhouse": str(wheelhouse.resolve()),
        "reliability_source_hash": _wheelhouse_hash(wheelhouse),
        **(extravars or {}),
    }
    outcome = run_playbook(
        "provision.yml", inventory, variables, timeout=timeout, echo=echo, work_root=work_root
    )
    return FleetResult(outcome, outcome.host_problems(hosts))


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
) -> FleetResult:
    """Run the stages on every host at once; fetch to reports_dir/<host>/; a fleet suite per host."""
    if not stages:
        raise UsageError("--stages names no stage")
    from reliability import stages as stage_registry

    for name in stages:
        stage_registry.get(name)  # an unknown stage fails here, before any host is touched
    hosts = inventory_hosts(inventory)
    reports_dir = reports_dir.resolve()
    reports_dir.mkdir(parents=True, exist_ok=True)
    ident = new_ident("fleet")
    variables = {
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
    )
    if outcome.status in ("canceled", "timeout"):
        stop(inventory, ident, echo=echo, work_root=work_root)
    problems = outcome.host_problems(hosts)
    if outcome.leftovers:
        for host in hosts:
            problems.setdefault(host, f"processes left behind: {'; '.join(outcome.leftovers)[:300]}")
    for host in hosts:
        write_host_suite(reports_dir, host, problems.get(host), "reliability.yml")
    return FleetResult(outcome, problems)


def stop(inventory: str | Path, ident: str, echo=print, work_root: Path | None = None) -> PlayOutcome:
    """End a cancelled run's processes on every host and recover the boxes they held."""
    outcome = run_playbook(
        "stop.yml", inventory, {"run_id": ident}, timeout=300, echo=echo, work_root=work_root
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
        p.set_defaults(func=_cmd_fleet)
        if name == "run":
            p.add_argument("--stages", required=True, help="comma-separated stages, e.g. stress,leaks")
            p.add_argument("--profile", default="smoke", choices=PROFILES)
            p.add_argument("--reports", default="reports", help="controller dir; each host gets <host>/")
            p.add_argument("--merged", help="also write all hosts' JUnit merged into this file")
            p.add_argument("run_args", nargs="*", help="after --: passed to `reliability run` on each host")


def _cmd_fleet(args: argparse.Namespace) -> int:
    from reliability.gate import format_table, gate

    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    if args.fleet_action == "provision":
        result = provision(args.inventory, timeout=args.timeout)
        _print_problems(result)
        print(f"fleet provision: {'PASSED' if result.ok else 'FAILED'} ({_changed(result)} changed)")
        return 0 if result.ok else 1
    stages = [s for s in args.stages.split(",") if s]
    reports = Path(args.reports)
    result = run(
        args.inventory,
        stages,
        profile=args.profile,
        reports_dir=reports,
        run_args=list(args.run_args or []),
        timeout=args.timeout,
    )
    _print_problems(result)
    verdict = gate(reports, expect=stages)
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
