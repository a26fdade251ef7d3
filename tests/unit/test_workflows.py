"""The GitHub workflows validate offline against check-jsonschema's built-in workflow schema, and say
what the plan asks of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
NAMES = ("ci.yml", "reliability.yml", "release-gate.yml", "preprod.yml")


def _load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


@pytest.mark.parametrize("name", NAMES)
def test_workflow_matches_the_github_schema(name: str) -> None:
    tool = shutil.which("check-jsonschema")
    if tool is None:
        pytest.skip("skipped: check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOWS / name)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    tool = shutil.which("check-jsonschema")
    if tool is None:
        pytest.skip("skipped: check-jsonschema is not installed (pip install check-jsonschema)")
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    steps: []\n")  # no runs-on
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(broken)], capture_output=True
    )
    assert done.returncode != 0


def _run_lines(doc: dict) -> str:
    return "\n".join(step.get("run", "") for job in doc["jobs"].values() for step in job.get("steps", []))


def test_weekly_run_has_the_plans_sizes_and_a_strict_junit_reporter() -> None:
    doc = _load("reliability.yml")
    assert doc["on"]["schedule"] == [{"cron": "0 2 * * 0"}]
    runs = _run_lines(doc)
    assert "--duration 3600" in runs and "--iterations 1000" in runs
    reporters = [s for j in doc["jobs"].values() for s in j["steps"] if "junit-report" in s.get("uses", "")]
    assert reporters and all(s["with"]["fail_on_failure"] and s["with"]["require_tests"] for s in reporters)
    uploads = [s for j in doc["jobs"].values() for s in j["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads and all(s.get("if") == "always()" for s in uploads)


def test_release_gate_runs_on_rc_tags_at_release_profile_and_gates() -> None:
    doc = _load("release-gate.yml")
    assert any("rc" in tag for tag in doc["on"]["push"]["tags"])
    assert "--profile release" in _run_lines(doc)
    gate_job = doc["jobs"]["gate"]
    assert gate_job["needs"] == "stages" and gate_job["if"] == "always()"
    assert any("nox -s gate" in s.get("run", "") for s in gate_job["steps"])


def test_preprod_runs_after_a_staging_deploy_on_call_and_by_hand() -> None:
    doc = _load("preprod.yml")
    assert set(doc["on"]) == {"deployment_status", "workflow_call", "workflow_dispatch"}
    assert doc["on"]["workflow_call"]["inputs"] == doc["on"]["workflow_dispatch"]["inputs"]
    secrets = doc["on"]["workflow_call"]["secrets"]
    assert secrets["RELIABILITY_SSH_KEY"]["required"] and secrets["RELIABILITY_KNOWN_HOSTS"]["required"]
    [job] = doc["jobs"].values()
    condition = " ".join(job["if"].split())
    assert "deployment_status.state == 'success'" in condition and "environment == 'staging'" in condition


def test_preprod_steps_are_plain_shell_with_strict_ssh_every_stage_and_the_gate() -> None:
    doc = _load("preprod.yml")
    [job] = doc["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert not [r for r in runs if "${{" in r], "values reach run steps through env, not the script"
    text = "\n".join(runs)
    order = [text.index(s) for s in ("ssh-add", "fleet provision", "fleet run", "reliability gate")]
    assert order == sorted(order)
    assert text.count("--known-hosts") == 2 and "stricthostkeychecking" not in text.lower()
    assert "--profile preprod" in text and '--target "$PREPROD_TARGET"' in text
    with_secrets = [s["name"] for s in job["steps"] if "secrets." in str(s.get("env", ""))]
    assert with_secrets == ["SSH key, known hosts and inventory from the secrets"]  # that step alone
    assert "secrets." not in str(job["env"])
    [gate_step] = [s for s in job["steps"] if "reliability gate" in s.get("run", "")]
    assert gate_step["if"] == "always()" and '--summary "$GITHUB_STEP_SUMMARY"' in gate_step["run"]
