"""The fleet over real SSH: two sshd on 127.0.0.1 play two hosts, driven by real Ansible.

Both "hosts" are this machine, so each gets its own work directory, box range and cgroup name through
host vars. Nothing is sent to any address but loopback.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.sshd_hosts import host_vars, keypair, recover_boxes, skip_unless_ready, sshd_hosts

pytestmark = [pytest.mark.slow, pytest.mark.root]

HOSTS = ("h1", "h2")

skip_unless_ready()

from reliability.fleet import cli as fleet  # noqa: E402
from reliability.fleet.ansible import MARKER  # noqa: E402
from reliability.fleet.merge import write_merged_junit  # noqa: E402
from reliability.fleet.wheelhouse import build_wheelhouse  # noqa: E402
from reliability.gate import format_host_stage_table, gate  # noqa: E402


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[dict]:
    work = Path(tempfile.mkdtemp(prefix=f"fleet-ssh-{os.getpid()}-"))
    tag = f"fl{os.getpid()}"
    box_base = 500 + (os.getpid() % 10) * 40  # two ranges of 20 boxes, apart from the other engineers
    try:
        key = keypair(work / "id_ed25519")
        authorized = work / "authorized_keys"
        authorized.write_text((work / "id_ed25519.pub").read_text())
        with sshd_hosts(work, HOSTS, authorized) as daemons:
            known = work / "known_hosts"
            known.write_text("".join(d.known_hosts_line() for d in daemons.values()))
            hosts = {}
            for i, name in enumerate(HOSTS):
                hosts[name] = host_vars(daemons[name], work / name, box_base + 20 * i, f"refbox-{tag}{name}")
                hosts[name]["ansible_ssh_private_key_file"] = str(key)
                hosts[name]["ansible_ssh_common_args"] = (
                    f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes "
                    "-o IdentitiesOnly=yes -o BatchMode=yes"
                )
            inventory = work / "inventory.yml"
            inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
            # Built once: every provision run in this module must see the same source, whoever edits it.
            wheelhouse = build_wheelhouse()
            yield {
                "work": work,
                "inventory": inventory,
                "daemons": daemons,
                "wheelhouse": wheelhouse,
                "box_uids": range(60000 + box_base, 60000 + box_base + 40),  # both hosts' box ranges
            }
    finally:
        for name in HOSTS:  # whatever a failed run left: box mounts and cgroups of this test only
            recover_boxes(work / name, f"refbox-{tag}{name}")
        shutil.rmtree(work, ignore_errors=True)


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment carries `marker` (how a fleet run's processes are known, on any host)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as f:
                    if marker.encode() in f.read().split(b"\0"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def _box_uid_processes(uids: range) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _changed(result: fleet.FleetResult) -> int:
    return sum((result.outcome.stats or {}).get("changed", {}).values())


def test_provision_twice_then_fleet_run_then_unreachable_host(two_hosts: dict) -> None:
    inventory, work = two_hosts["inventory"], two_hosts["work"]
    wheelhouse = two_hosts["wheelhouse"]

    first = fleet.provision(inventory, wheelhouse=wheelhouse, timeout=600, work_root=work)
    assert first.ok, (first.problems, first.outcome.status)
    assert _changed(first) > 0
    second = fleet.provision(inventory, wheelhouse=wheelhouse, timeout=600, work_root=work)
    assert second.ok, (second.problems, second.outcome.status)
    assert _changed(second) == 0, second.outcome.stats

    reports = work / "reports"
    run_args = ["--submissions", "12", "--iterations", "8"]
    result = fleet.run(
        inventory,
        ["stress", "leaks"],
        profile="smoke",
        reports_dir=reports,
        run_args=run_args,
        timeout=600,
        work_root=work,
    )
    assert result.ok, (result.problems, result.outcome.status, result.outcome.leftovers)
    for host in HOSTS:
        assert (reports / host / "reports" / "stress.xml").is_file()
        assert (reports / host / "reports" / "leaks.xml").is_file()
        assert list((reports / host / "runs").glob("*/history.jsonl")), f"{host}: no history came back"
    verdict = gate(reports, expect=["stress", "leaks", "fleet"])
    assert verdict.ok, verdict.reasons
    table = format_host_stage_table(verdict).splitlines()
    assert table[0].split() == ["host", "fleet", "leaks", "stress"]
    assert [line.split() for line in table[1:]] == [[h, "pass", "pass", "pass"] for h in HOSTS]
    merged = ET.parse(write_merged_junit(reports, work / "merged.xml")).getroot()
    hostnames = sorted({s.get("hostname") for s in merged.iter("testsuite")})
    assert hostnames == list(HOSTS) and len(list(merged.iter("testsuite"))) == 6

    # A run cut by its timeout mid-stage: an error for every host, and nothing of it left running.
    cut = fleet.run(
        inventory,
        ["stress"],
        profile="smoke",
        reports_dir=work / "reports-cut",
        run_args=["--submissions", "400"],
        timeout=15,
        work_root=work,
    )
    assert not cut.ok and cut.outcome.status == "timeout", (cut.outcome.status, cut.problems)
    assert set(cut.problems) == set(HOSTS), cut.problems
    assert _processes_with(f"{MARKER}={cut.outcome.ident}") == []
    # The killed modules' payload dirs: under each host's home (its TMPDIR), none in the host's /tmp.
    assert list(work.glob("h*/tmp/ansible_*_payload_*")), "a killed module left no payload in its home"
    assert _box_uid_processes(two_hosts["box_uids"]) == []
    assert not gate(work / "reports-cut", expect=["stress", "fleet"]).ok

    two_hosts["daemons"]["h2"].stop()
    reports_down = work / "reports-down"
    down = fleet.run(
        inventory,
        ["stress"],
        profile="smoke",
        reports_dir=reports_down,
        run_args=run_args,
        timeout=600,
        work_root=work,
    )
    assert not down.ok
    assert set(down.problems) == {"h2"} and "unreachable" in down.problems["h2"]
    verdict = gate(reports_down, expect=["stress", "fleet"])
    assert not verdict.ok
    assert any(r.startswith("h2/fleet.xml") and "unreachable" in r for r in verdict.reasons), verdict.reasons
    assert not any(r.startswith("h1/") for r in verdict.reasons), verdict.reasons


def test_provision_fails_clearly_when_cgroups_are_unusable(two_hosts: dict) -> None:
    work = two_hosts["work"]
    empty_root = work / "no-cgroups"
    empty_root.mkdir(exist_ok=True)
    empty_mountinfo = work / "no-mountinfo"
    empty_mountinfo.write_text("")
    result = fleet.provision(
        two_hosts["inventory"],
        wheelhouse=two_hosts["wheelhouse"],
        extravars={"reliability_cgroup_root": str(empty_root), "reliability_mountinfo": str(empty_mountinfo)},
        timeout=600,
        work_root=work,
    )
    assert not result.ok
    assert "cgroups unusable on h1" in result.problems["h1"], result.problems
