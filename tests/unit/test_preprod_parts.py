"""The parts of the pre-production check that need no host: the preprod profile, the deploy's artifact
version from the command line or the environment into every report, the gate over every fleet host and
its Markdown summary, and the strict SSH options the fleet takes from a known_hosts file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from synthetic_history import HistoryBuilder, clean_runs

from reliability import artifact, cli
from reliability.analyze import analyze, write_reports
from reliability.checks.base import failed, passed
from reliability.errors import UsageError
from reliability.fleet.cli import _target_for_hosts
from reliability.fleet.junit import write_host_suite
from reliability.fleet.ssh import refuse_loosened, strict_env
from reliability.gate import format_markdown, gate
from reliability.report.junit import write_suite
from reliability.stages import all_stages


def test_the_preprod_profile_sizes_every_stage_smaller_than_quick():
    for stage in all_stages().values():
        preprod, quick = stage.sizes_for("preprod"), stage.sizes_for("quick")
        assert preprod.submissions <= quick.submissions and preprod.iterations <= quick.iterations, stage
        assert preprod.submissions or preprod.iterations, f"{stage.name}: preprod would run nothing"
    assert all_stages()["concurrent"].sizes_for("preprod").concurrency == 40


def _properties(path) -> dict:
    return {p.get("name"): p.get("value") for p in ET.parse(path).getroot().iter("property")}


def test_the_artifact_version_of_the_history_is_in_the_reports_properties(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path / "with", artifact_version="2.4.1+build.9"))
    b.end()
    b.journal.close()
    assert (
        _properties(write_reports(analyze(b.run_dir), tmp_path / "a"))["artifact_version"] == "2.4.1+build.9"
    )
    b = clean_runs(HistoryBuilder(tmp_path / "without"))
    b.end()
    b.journal.close()
    assert "artifact_version" not in _properties(write_reports(analyze(b.run_dir), tmp_path / "b"))


def test_the_artifact_version_comes_from_the_flag_else_the_environment(monkeypatch):
    monkeypatch.setenv(artifact.ENV, "env-1.0")
    assert artifact.resolve("flag-2.0") == "flag-2.0"
    assert artifact.resolve(None) == "env-1.0"
    monkeypatch.setenv(artifact.ENV, "")
    assert artifact.resolve(None) is None
    for bad in ("a b", "-rc1", "x" * 201, "v1\n", "é"):
        with pytest.raises(UsageError, match="--artifact-version"):
            artifact.resolve(bad)
    monkeypatch.setenv(artifact.ENV, "two words")
    with pytest.raises(UsageError, match=artifact.ENV):
        artifact.resolve(None)


def test_a_bad_artifact_version_is_one_line_and_exit_2(capsys):
    assert cli.main(["run", "stress", "--artifact-version", "not a version"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--artifact-version" in err


def test_a_resumed_run_keeps_its_recorded_artifact_version(tmp_path, capsys):
    assert cli.main(["run", "--resume", str(tmp_path), "--artifact-version", "1.0"]) == 2
    assert "drop --artifact-version" in capsys.readouterr().err


def _fleet(tmp_path, hosts: dict[str, list[str]]):
    """reports/<host>/: a fleet suite, and a passing suite for each named stage."""
    for host, stages in hosts.items():
        write_host_suite(tmp_path, host, None, "reliability.yml", {"artifact_version": "9"})
        for stage in stages:
            write_suite(tmp_path / host / "reports" / f"{stage}.xml", stage, [passed("a", "fine")], {})


def test_every_fleet_host_must_have_every_expected_stage(tmp_path):
    _fleet(tmp_path, {"h1": ["stress", "leaks"], "h2": ["stress"]})
    result = gate(tmp_path, expect=["stress", "leaks", "fleet"])
    assert result.reasons == ["h2: expected stage 'leaks': no suite of that name for this host"]
    assert _properties(tmp_path / "h2" / "fleet.xml") == {"artifact_version": "9"}
    assert gate(tmp_path, expect=["stress", "fleet"]).ok


def test_a_folder_without_a_fleet_suite_is_not_a_host(tmp_path):
    write_suite(tmp_path / "stress.xml", "stress", [passed("a", "fine")], {})
    write_suite(tmp_path / "nested" / "leaks.xml", "leaks", [passed("a", "fine")], {})
    assert gate(tmp_path, expect=["stress", "leaks"]).ok


def test_the_markdown_summary_has_the_host_stage_table_and_the_reasons(tmp_path):
    _fleet(tmp_path, {"h1": ["stress"], "h|2": []})
    write_host_suite(tmp_path, "h3", "host unreachable: Connection refused", "reliability.yml")
    write_suite(tmp_path / "h1" / "reports" / "leaks.xml", "leaks", [failed("c", "1 leaked *mount*")], {})
    lines = format_markdown(gate(tmp_path, expect=["stress", "fleet"])).splitlines()
    assert lines[:2] == ["### Gate: FAIL", ""]
    assert lines[2:7] == [
        "| host | fleet | leaks | stress |",
        "|---|---|---|---|",
        "| h1 | pass | **FAIL** | pass |",
        "| h3 | **ERROR** | **missing** | **missing** |",
        "| h\\|2 | pass | **missing** | **missing** |",
    ]
    assert "- h1/reports/leaks.xml: suite 'leaks': failure in 'c': 1 leaked \\*mount\\*" in lines
    assert any(line.startswith("- h3/fleet.xml") and "unreachable" in line for line in lines)
    assert format_markdown(gate(tmp_path / "h1" / "reports")).splitlines()[0] == "### Gate: FAIL"


def test_gate_summary_appends_markdown_to_the_file(tmp_path, capsys):
    _fleet(tmp_path / "reports", {"h1": ["stress"]})
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert (
        cli.main(["gate", str(tmp_path / "reports"), "--expect", "stress,fleet", "--summary", str(summary)])
        == 0
    )
    assert summary.read_text().splitlines()[:4] == [
        "earlier step",
        "### Gate: PASS",
        "",
        "| host | fleet | stress |",
    ]
    assert cli.main(["gate", str(tmp_path / "reports"), "--expect", "all"]) == 1  # "all": every stage
    assert "- expected stage 'crash': no suite of that name in" in capsys.readouterr().out
    assert cli.main(["gate", str(tmp_path / "reports"), "--summary", str(tmp_path / "no" / "s.md")]) == 2


def test_strict_ssh_trusts_the_known_hosts_file_alone(tmp_path):
    with pytest.raises(UsageError, match="no such file, or it is empty"):
        strict_env(tmp_path / "known_hosts")
    (tmp_path / "known_hosts").write_text("")
    with pytest.raises(UsageError, match="empty"):
        strict_env(tmp_path / "known_hosts")
    (tmp_path / "known hosts").write_text("[127.0.0.1]:22 ssh-ed25519 AAAA\n")
    env = strict_env(tmp_path / "known hosts")
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert "-o StrictHostKeyChecking=yes" in env["ANSIBLE_SSH_ARGS"]
    assert f"-o 'UserKnownHostsFile={tmp_path / 'known hosts'}'" in env["ANSIBLE_SSH_ARGS"]


@pytest.mark.parametrize(
    "variables",
    [
        {"ansible_host_key_checking": False},
        {"ansible_ssh_host_key_checking": "no"},
        {"ansible_ssh_args": "-o ControlMaster=no"},
        {"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"},
        {"ansible_ssh_extra_args": "-o UserKnownHostsFile=/dev/null"},
    ],
)
def test_an_inventory_that_loosens_host_key_checking_is_refused(variables):
    refuse_loosened(
        {"good": {"ansible_host_key_checking": True, "ansible_ssh_common_args": "-o Compression=yes"}}
    )
    with pytest.raises(UsageError, match="inventory host bad: "):
        refuse_loosened({"good": {}, "bad": variables})


def test_the_fleet_target_is_a_name_or_a_target_file_made_absolute(tmp_path, monkeypatch):
    assert _target_for_hosts("isolate") == "isolate"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "box.yml").write_text("format: 1\n")
    assert _target_for_hosts("box.yml") == str(tmp_path / "box.yml")
    for bad in ("nosuch", "missing.yml", "dir/x"):
        with pytest.raises(UsageError):
            _target_for_hosts(bad)


def test_ssh_control_sockets_fit_a_unix_socket_path_under_a_deep_temp_dir(tmp_path):
    from reliability.fleet.ansible import _control_dir

    assert _control_dir(Path("/tmp/fleet-x")) == Path("/tmp/fleet-x/cp")
    deep = tmp_path / ("d" * 80)
    short = _control_dir(deep)
    try:
        assert short.is_dir() and short.parent == Path("/tmp") and len(str(short)) + 28 <= 107
    finally:
        short.rmdir()
