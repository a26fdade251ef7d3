"""The state stage (QA-REL-001 section 8) end to end on the built-in sandbox: every kind of damage to a
box's state file is detected, the box quarantined while the others serve, the damage audited, and the
box healthy again after recover; the JUnit report names the evidence (box, case, file)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from stage_runs import PID, _boxes, only, run_stage

from reliability.checks import state
from reliability.execute import RunOptions, execute
from reliability.nemesis.corrupt_state import CASES
from reliability.targets import load as load_target
from reliability.targets.builtin import BuiltinTarget

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the built-in sandbox needs root")


def test_every_damaged_state_file_is_detected_quarantined_audited_and_recovered():
    checks = run_stage("state", {"iterations": 1})
    for name in (*state.NAMES, "all executions completed", "run finished"):
        assert checks[name].status == "passed", checks[name]
    assert "not measured" not in checks[state.DETECTED].message
    for name in state.NAMES:
        for case in CASES:  # one evidence line per case, naming the box, the case and the file
            assert any(f"case {case} " in line and "state.json" in line for line in checks[name].evidence), (
                name,
                case,
                checks[name].evidence,
            )
    kept = [line for line in checks[state.QUARANTINED].evidence if "kept at" in line]
    assert len(kept) == len(CASES) - 1  # all but the missing file: its bytes are set aside
    for name in ("processes", "mounts", "cgroups", "fds", "temp dirs"):
        assert checks[f"no leaked {name}"].status == "passed", checks[f"no leaked {name}"]


SCRIPT = """#!/bin/sh
# box.sh ROOT CGROUP ACTION ARGS...: the built-in sandbox's CLI (one JSON object per call).
root=$1; cgroup=$2; action=$3; shift 3
exec "$PYTHON" -m reliability box "$action" --root "$root" --cgroup-name "$cgroup" "$@"
"""


def described_doc(work: Path, cgroup: str, box_base: int) -> dict:
    """The built-in sandbox's CLI described in YAML, declaring its per-box state file and no audit log."""
    script = ["sh", "{script}", "{root}", "{cgroup_name}"]
    run = ["run", "--box", "{box}", "--time", "{cpu_s}", "--wall-time", "{wall_s}", "--mem", "{mem_mb}"]
    run += ["--processes", "{processes}", "--output-limit", "{output_kb}", "{files}", "--", "{command}"]
    fields = {f: f for f in ("verdict", "cpu_s", "wall_s", "exit_code", "signal", "message", "stdout")}
    return {
        "format": 1,
        "name": "refbox-script",
        "options": {"root": str(work / "boxes"), "cgroup_name": cgroup, "script": str(work / "box.sh")},
        "capabilities": ["state_files"],
        "commands": {
            "init": [*script, "init", "--box", "{box}"],
            "run": [*script, *run],
            "cleanup": [*script, "cleanup", "--box", "{box}"],
            "recover": [*script, "recover", "--box", "{box}"],
            "recover_all": [*script, "recover"],
        },
        "files": {"option": ["--file", "{src}:{name}"]},
        "result": {
            "format": "json",
            "fields": fields | {"peak_mem": "peak_mem_kb"},
            "statuses": {v: v for v in ("OK", "TLE", "MLE", "RE", "OLE", "IE")},
        },
        "owns": {
            "box_root": "{root}",
            "box_dir": "{root}/{box}",
            "cgroup_roots": ["/sys/fs/cgroup/*/{cgroup_name}", "/sys/fs/cgroup/{cgroup_name}"],
            "box_cgroups": ["/sys/fs/cgroup/*/{cgroup_name}/box-{box}", "/sys/fs/cgroup/{cgroup_name}/box-{box}"],
            "uid_range": [60000 + box_base, 60000 + box_base + 2],
            "uid_base": 60000,
            "state_files": [{"glob": "{root}/.state/{box}/state.json", "schema": "box-state", "format": "json"}],
        },
    }  # fmt: skip


def test_a_described_target_is_damaged_through_its_declared_state_file_and_has_no_audit_trail(monkeypatch):
    """Any target: a YAML-described CLI sandbox naming its per-box state file gets the same damage and
    checks; it declares no audit log, so that one check is skipped with the reason, never passed."""
    work = Path(tempfile.mkdtemp(prefix=f"state-described-{PID}-"))
    os.chmod(work, 0o755)
    (work / "boxes").mkdir(mode=0o755)
    (work / "box.sh").write_text(SCRIPT)
    cgroup = f"refbox-state-desc-{PID}"
    box_base = next(_boxes)
    path = work / "target.yml"
    path.write_text(yaml.safe_dump(described_doc(work, cgroup, box_base)))
    # For the script, when the target runs in this process: this interpreter, and this checkout's
    # package whatever the working directory is.
    monkeypatch.setenv("PYTHON", sys.executable)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    target = load_target(str(path))
    if target.state_file(box_base) is None:
        pytest.skip("this target loader does not name per-box state files yet")
    try:
        target.recover()  # the sandbox's state dir exists before the first snapshot, as an operator would have it
        opts = RunOptions(
            profile="smoke",
            seed=5,
            overrides={"iterations": 1},
            runs_dir=work / "runs",
            reports_dir=work / "reports",
            target=str(path),
            box_base=box_base,
        )
        # Two cases (every CLI call is a new interpreter: the whole stage would take minutes here).
        stage = only("state", ("partial_write", "missing_file"))
        checks = {c.name: c for c in execute(stage, opts).checks}
    finally:
        target.recover()
        target.close()
        BuiltinTarget(box_root=str(work / "boxes"), cgroup_name=cgroup).close()
        shutil.rmtree(work, ignore_errors=True)
    for name in (state.DETECTED, state.QUARANTINED, state.SERVING, state.RECOVERED):
        assert checks[name].status == "passed", checks[name]
    assert checks[state.AUDIT].status == "skipped", checks[state.AUDIT]
    assert "declares no audit files" in checks[state.AUDIT].message
