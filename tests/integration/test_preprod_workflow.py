"""The pre-production workflow's own run steps, read from .github/workflows/preprod.yml in order and run
as GitHub's runner runs them (bash -eo pipefail; GITHUB_ENV carried from step to step; `if:`; the step
summary), against two sshd on 127.0.0.1. The secrets are environment variables, as the `env` of the
job and of its steps gives them: a key pair and known_hosts made here, and an inventory of the two hosts.

Steps that use an action are skipped, and said so: actions/checkout (the steps run in a fresh copy of
this checkout instead), actions/setup-python (a venv over this interpreter's packages is first on PATH
instead) and actions/upload-artifact (nothing to upload to).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.sshd_hosts import host_vars, keypair, recover_boxes, skip_unless_ready, sshd_hosts

pytestmark = [pytest.mark.slow, pytest.mark.root]

skip_unless_ready()

from reliability.stages import NAMES as STAGES  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "preprod.yml"
HOSTS = ("h1", "h2")
BOX_BASES = {"h1": 700, "h2": 750}  # the concurrent stage's 40 workers each, apart from other testers
SSH_PORTS = range(22210, 22220)
VERSION = "staging-2026.12.02+build.7"
SKIPPED_ACTIONS = {
    "actions/checkout": "the steps run in a fresh copy of this checkout",
    "actions/setup-python": "a venv over this interpreter's packages is first on PATH",
    "actions/upload-artifact": "nothing to upload to",
}


@dataclass
class Step:
    name: str
    rc: int | None  # None: not run (skipped by its `if:`, or an action)
    output: str
    action: bool = False


def _job() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    [job] = doc["jobs"].values()
    return job


def _runs(condition: str | None, failed: bool) -> bool:
    """GitHub's step conditions as the workflow uses them; any other is this test's to learn first."""
    if condition in ("always()", "!cancelled()"):
        return True
    assert condition is None, f"the test does not know the step condition {condition!r}"
    return not failed


def _read_github_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        assert "<<" not in line, "multi-line GITHUB_ENV values are not emulated here"
        name, sep, value = line.partition("=")
        assert sep, f"bad GITHUB_ENV line {line!r}"
        values[name] = value
    return values


def run_workflow(checkout: Path, runner: Path, values: dict[str, str], path_first: Path) -> list[Step]:
    """Every step of the job, in order: run steps in bash with the runner's files, actions skipped.
    values: what each variable of the job's and the steps' `env` evaluates to."""
    job = _job()
    named = {*job["env"], *(name for step in job["steps"] for name in step.get("env", {}))}
    assert named == set(values), "give every variable of the workflow's env a value in this test"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_", "RELIABILITY_", "PREPROD_"))}
    github_env = runner / "github_env"
    github_env.write_text("")
    env.update(
        {name: values[name] for name in job["env"]},
        PATH=f"{path_first}{os.pathsep}{env['PATH']}",
        CI="true",
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(checkout),
        GITHUB_ENV=str(github_env),
        GITHUB_STEP_SUMMARY=str(runner / "step_summary.md"),
        RUNNER_TEMP=str(runner / "temp"),
        TMPDIR=str(runner / "tmp"),  # what the controller keeps of a failed play: in the test's dir
    )
    (runner / "temp").mkdir(exist_ok=True)
    (runner / "tmp").mkdir(exist_ok=True)
    try:
        return _run_steps(job["steps"], checkout, runner, env, github_env, values)
    finally:  # the agent the workflow started, if its own last step did not stop it
        agent = _read_github_env(github_env).get("SSH_AGENT_PID")
        if agent and _comm(agent) == "ssh-agent":
            os.kill(int(agent), signal.SIGTERM)


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _run_steps(
    job_steps: list, checkout: Path, runner: Path, env: dict, github_env: Path, values: dict
) -> list[Step]:
    steps, failed = [], False
    for i, step in enumerate(job_steps):
        if "uses" in step:
            action = step["uses"].split("@")[0]
            assert action in SKIPPED_ACTIONS, f"step {i} uses {action}: say how the test stands in for it"
            print(f"step {i}: {action}: skipped: {SKIPPED_ACTIONS[action]}")
            steps.append(Step(action, None, SKIPPED_ACTIONS[action], action=True))
            continue
        name = step.get("name", step["run"].splitlines()[0])
        if not _runs(step.get("if"), failed):
            steps.append(Step(name, None, "skipped: an earlier step failed"))
            continue
        script = runner / f"step-{i}.sh"
        script.write_text(step["run"])
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=checkout,
            env={**env, **_read_github_env(github_env), **{n: values[n] for n in step.get("env", {})}},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        print(f"step {i}: {name}: exit {done.returncode} in {time.monotonic() - started:.0f} s")
        steps.append(Step(name, done.returncode, done.stdout))
        failed = failed or done.returncode != 0
    return steps


def _by_name(steps: list[Step], start: str) -> Step:
    [step] = [s for s in steps if s.name.startswith(start)]
    return step


def _copy_checkout(to: Path) -> Path:
    """What actions/checkout gives: the repository's files (with this working tree's changes)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        if (REPO / name).is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, to / name)
    return to


@pytest.fixture(scope="module")
def staging() -> Iterator[dict]:
    """Two staging hosts behind sshd, the secrets that reach them, and a Python for the runner."""
    work = Path(tempfile.mkdtemp(prefix=f"preprod-{os.getpid()}-"))
    cgroups = {name: f"i21-{os.getpid()}-{name}" for name in HOSTS}
    try:
        key = keypair(work / "deploy_key")
        authorized = work / "authorized_keys"
        authorized.write_text((work / "deploy_key.pub").read_text())
        with sshd_hosts(work, HOSTS, authorized, ports=SSH_PORTS) as daemons:
            inventory = {
                name: host_vars(daemons[name], work / name, BOX_BASES[name], cgroups[name]) for name in HOSTS
            }
            subprocess.run(
                ["python3", "-m", "venv", "--system-site-packages", str(work / "venv")], check=True
            )
            yield {
                "work": work,
                "daemons": daemons,
                "python_bin": work / "venv" / "bin",
                "secrets": {
                    "RELIABILITY_SSH_KEY": key.read_text(),
                    "RELIABILITY_KNOWN_HOSTS": "".join(d.known_hosts_line() for d in daemons.values()),
                    "RELIABILITY_INVENTORY": yaml.safe_dump({"all": {"hosts": inventory}}),
                },
            }
    finally:
        for name in HOSTS:  # whatever a failed run left: box mounts and cgroups of this test only
            recover_boxes(work / name, cgroups[name])
        shutil.rmtree(work, ignore_errors=True)


def _dispatch(staging: dict, run: str, **inputs: str) -> tuple[list[Step], Path, Path]:
    """One run of the workflow as a workflow_dispatch with `inputs`: (steps, checkout, runner dir)."""
    checkout = _copy_checkout(staging["work"] / f"checkout-{run}")
    runner = staging["work"] / f"runner-{run}"
    runner.mkdir()
    given = {"target": "builtin", "target_options": "", "inventory": "", "stages": "all", "run_args": ""}
    given.update(inputs)
    values = {
        **staging["secrets"],
        "RELIABILITY_ARTIFACT_VERSION": VERSION,
        "PREPROD_TARGET": given["target"],
        "PREPROD_TARGET_OPTIONS": given["target_options"],
        "PREPROD_INVENTORY_PATH": given["inventory"],
        "PREPROD_STAGES": given["stages"],
        "PREPROD_RUN_ARGS": given["run_args"],
    }
    return run_workflow(checkout, runner, values, staging["python_bin"]), checkout, runner


def _failures(reports: Path) -> str:
    """Each failed check's evidence in the hosts' reports: what a failed run on CI must show, since its
    work directory is gone once the test ends."""
    out = []
    for path in sorted(reports.glob("*/reports/*.xml")):
        for case in ET.parse(path).getroot().iter("testcase"):
            for failure in case.iter("failure"):
                out.append(f"{path.relative_to(reports)}: {case.get('name')}: {(failure.text or '')[:1500]}")
    return "".join(f"\n{line}" for line in out)


def _properties(path: Path) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in ET.parse(path).getroot().iter("property")}


def test_every_stage_passes_on_both_hosts_with_the_version_and_the_table(staging: dict) -> None:
    started = time.monotonic()
    # Every stage; those sized in iterations at 2 (the workflow's run_args input), stress and concurrent at
    # their preprod sizes (concurrent's rate and load need them): what this test proves is the workflow
    # (secrets, strict ssh, the sandbox chosen, the gate over hosts and stages) within CI's time.
    steps, checkout, runner = _dispatch(
        staging, "up", target_options="quota_mb=64", run_args="--iterations 2"
    )
    print(f"the workflow's steps took {time.monotonic() - started:.0f} s")
    reports = checkout / "preprod" / "reports"
    for step in steps:
        assert step.rc in (None, 0), f"{step.name}: exit {step.rc}\n{step.output[-3000:]}{_failures(reports)}"
    assert not [s for s in steps if s.rc is None and not s.action], "a run step was skipped"

    for host in HOSTS:
        names = {p.stem for p in (reports / host / "reports").glob("*.xml")}
        assert set(STAGES) <= names, f"{host}: stages without a report: {set(STAGES) - names}"
        for path in [reports / host / "fleet.xml", *(reports / host / "reports").glob("*.xml")]:
            props = _properties(path)
            assert props.get("artifact_version") == VERSION, (path, props)
            if path.name != "fleet.xml":
                assert (props["profile"], props["target"]) == ("preprod", "builtin"), (path, props)

    summary = (runner / "step_summary.md").read_text()
    assert "### Gate: PASS" in summary
    table = [line for line in summary.splitlines() if line.startswith("| ")]
    assert table[0].strip("| ").split(" | ") == ["host", *sorted([*STAGES, "fleet"])]
    assert [row.split(" | ")[0].strip("| ") for row in table[1:]] == list(HOSTS)
    assert all(set(row.strip("| ").split(" | ")[1:]) == {"pass"} for row in table[1:]), table
    # The secrets stay out of what is uploaded (preprod/) and out of every step's output.
    key_line = staging["secrets"]["RELIABILITY_SSH_KEY"].splitlines()[1]
    uploaded = [p for p in (checkout / "preprod").rglob("*") if p.is_file()]
    assert uploaded and not [p for p in uploaded if key_line.encode() in p.read_bytes()]
    assert (
        key_line not in "".join(s.output for s in steps)
        and "Identity added" not in _by_name(steps, "SSH key").output
    )


def test_a_stopped_host_fails_the_gate_by_name(staging: dict) -> None:
    staging["daemons"]["h2"].stop()
    steps, checkout, runner = _dispatch(staging, "down", stages="stress", run_args="--submissions 12")

    assert _by_name(steps, "Provision").rc != 0
    assert "h2: host unreachable" in _by_name(steps, "Provision").output
    assert _by_name(steps, "Every stage").rc != 0  # it ran all the same, after the failed provision
    gate = _by_name(steps, "Gate")
    assert gate.rc == 1, gate.output
    assert "h2/fleet.xml: suite 'fleet': error" in gate.output and "unreachable" in gate.output
    assert "h2: expected stage 'stress'" in gate.output
    assert not [line for line in gate.output.splitlines() if line.startswith("- h1")], gate.output
    summary = (runner / "step_summary.md").read_text()
    assert "### Gate: FAIL" in summary
    assert "| h1 | pass | pass |" in summary and "| h2 | **ERROR** | **missing** |" in summary, summary
    assert _by_name(steps, "Stop the ssh-agent").rc == 0
