"""The GitHub workflows validate offline against check-jsonschema's built-in workflow schema, and say
what the plan asks of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reliability.compare.output import NO_BASELINE_SUITE
from reliability.stages import NAMES as STAGE_NAMES

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


def test_release_gate_runs_every_stage_as_a_matrix_at_release_profile_and_gates_on_all() -> None:
    doc = _load("release-gate.yml")
    assert doc["on"]["push"]["tags"] == ["v*"]  # release candidates and releases
    stages_job = doc["jobs"]["stages"]
    assert sorted(stages_job["strategy"]["matrix"]["stage"]) == sorted(STAGE_NAMES)
    assert stages_job["strategy"]["fail-fast"] is False  # a failing stage hides no other
    assert stages_job["timeout-minutes"] <= 360  # GitHub's limit for a job
    runs = _run_lines({"jobs": {"stages": stages_job}})
    assert "nox -s ${{ matrix.stage }} -- --profile release --seed" in runs
    uploads = [s for s in stages_job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads[0]["with"]["name"] == "release-${{ matrix.stage }}" and uploads[0]["if"] == "always()"
    gate_job = doc["jobs"]["gate"]
    assert gate_job["needs"] == "stages" and gate_job["if"] == "always()"
    gate_run = next(s["run"] for s in gate_job["steps"] if "nox -s gate" in s.get("run", ""))
    expect = gate_run.split("--expect ")[1].split()[0]
    assert sorted(expect.split(",")) == sorted(STAGE_NAMES)


def test_release_gate_compares_with_the_last_release_and_a_release_publishes_its_runs() -> None:
    doc = _load("release-gate.yml")
    steps = doc["jobs"]["gate"]["steps"]
    names = [s.get("name", "") for s in steps]
    assert names.index("Compare with the last release") < names.index("Gate")
    compare = steps[names.index("Compare with the last release")]["run"]
    assert "nox -s compare -- baseline/runs runs" in compare and "--skip-without-baseline" in compare
    gate_run = steps[names.index("Gate")]["run"]
    assert f'--allow-skipped "{NO_BASELINE_SUITE}"' in gate_run  # only the suite without a baseline
    publish = doc["jobs"]["publish-baseline"]
    assert publish["needs"] == "gate" and "-rc" in publish["if"]
    assert publish["permissions"] == {"contents": "write"}
    fetched = steps[names.index("The baseline, the last release's published runs")]["run"]
    published = _run_lines({"jobs": {"p": publish}})
    assert 'gh release upload "$TAG" "reliability-runs-$TAG.tar.gz"' in published
    assert 'gh release download "$last" --pattern "reliability-runs-$last.tar.gz"' in fetched
    page = steps[names.index("Release page")]
    assert names.index("Gate") < names.index("Release page") and page["if"] == "always()"
    assert "nox -s report -- --release reports" in page["run"]


def test_the_readme_says_what_the_release_gate_does() -> None:
    readme = (WORKFLOWS.parents[1] / "README.md").read_text()
    doc = _load("release-gate.yml")
    gate_run = next(s["run"] for s in doc["jobs"]["gate"]["steps"] if "nox -s gate" in s.get("run", ""))
    assert f"--expect {gate_run.split('--expect ')[1].split()[0]}" in readme
    assert "one job per stage" in readme and "docs/release.md" in readme


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
