"""The built-in sandbox described by a YAML file: a shell script around `reliability box`
(tests/data/defective_box/box.sh, the box.sh of docs/targets.md with switchable defects), in a work
dir, box root and cgroup of its own. Shared by tests/integration/test_command_target.py (the clean
script through the stages) and tests/test_described_defect_matrix.py (each defect caught).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from reliability.targets import load
from reliability.targets.base import Target

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "data" / "defective_box" / "box.sh"
PID = os.getpid()
BOX_BASE = 200 + (PID % 90) * 4  # four boxes of our own: box uids 60000+N are shared with other tests
RUN_ARGS = [
    "--time", "{cpu_s}", "--wall-time", "{wall_s}", "--mem", "{mem_mb}", "--processes", "{processes}",
    "--output-limit", "{output_kb}", "{files}", "--", "{command}",
]  # fmt: skip


def target_doc(
    work: Path,
    cgroup_name: str,
    claim_cgroup_root: bool = True,
    box_base: int = BOX_BASE,
    serve: bool = True,
    boxes: int = 4,
) -> dict:
    """The target file of the script, for boxes box_base..box_base+boxes-1. Without claim_cgroup_root it
    declares its box cgroups only, like the isolate 1.x profile: a leftover box cgroup must then be
    found through `box_cgroups`. With serve, its start and stop commands run the refbox's resident
    server around each stage's runs, and the commands go through its client; without, each command
    is the CLI itself (what the pipeline kills is then the sandbox's own process)."""
    script = ["sh", "{script}", "{root}", "{cgroup_name}", "{defects}"]
    owns = {
        "box_root": "{root}",
        "box_dir": "{root}/{box}",
        "box_cgroups": ["/sys/fs/cgroup/*/{cgroup_name}/box-{box}", "/sys/fs/cgroup/{cgroup_name}/box-{box}"],
        "uid_range": [60000 + box_base, 60000 + box_base + boxes - 1],
        "uid_base": 60000,
        "state_files": [{"glob": "{root}/.state/{box}/state.json", "schema": "box-state", "format": "json"}],
    }
    if claim_cgroup_root:
        owns["cgroup_roots"] = ["/sys/fs/cgroup/*/{cgroup_name}", "/sys/fs/cgroup/{cgroup_name}"]
    return {
        "format": 1,
        "name": "refbox-script",
        "options": {
            "root": str(work / "boxes"),
            "cgroup_name": cgroup_name,
            "script": str(SCRIPT),
            "defects": "",  # --target-option defects=orphans,slowdown: see the script
        },
        "commands": {
            "init": [*script, "init", "--box", "{box}"],
            "run": [*script, "run", "--box", "{box}", *RUN_ARGS],
            "cleanup": [*script, "cleanup", "--box", "{box}"],
            "recover": [*script, "recover", "--box", "{box}"],
            "recover_all": [*script, "recover"],
            **({"start": [*script, "start"], "stop": [*script, "stop"]} if serve else {}),
        },
        "files": {"option": ["--file", "{src}:{name}"]},
        "result": {
            "format": "json",
            "fields": {
                f: f for f in ("verdict", "cpu_s", "wall_s", "exit_code", "signal", "message", "stdout")
            }
            | {"peak_mem": "peak_mem_kb"},
            "statuses": {v: v for v in ("OK", "TLE", "MLE", "RE", "OLE", "IE")},
        },
        "cleanup_result": {"error": "error", "quarantined": "quarantined"},
        "owns": owns,
    }


def reliability(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m reliability ARGS` with this checkout's package."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHON=sys.executable)
    cmd = [sys.executable, "-m", "reliability", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@contextmanager
def described_box(
    prefix: str, claim_cgroup_root: bool = True, box_base: int = BOX_BASE, serve: bool = True, boxes: int = 4
) -> Iterator[tuple[Path, Path, Target]]:
    """(work dir, target file, loaded target); everything the sandbox made is removed afterwards."""
    # Not under pytest's tmp_path: box uids must reach their box, and /tmp/pytest-of-root is 0700.
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-{PID}-"))
    (work / "boxes").mkdir()
    os.chmod(work, 0o755)
    os.chmod(work / "boxes", 0o755)
    cgroup_name = f"{prefix}-{PID}"
    path = work / "target.yml"
    path.write_text(yaml.safe_dump(target_doc(work, cgroup_name, claim_cgroup_root, box_base, serve, boxes)))
    # For the script, when the target runs in this process: this interpreter and this checkout's package
    # whatever the working directory is.
    os.environ["PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = str(REPO)
    target = load(str(path))
    try:
        target.recover()  # first use makes the sandbox's state dir: before any snapshot, as an operator would
        yield work, path, target
    finally:
        try:
            target.recover()
        finally:
            target.close()
            shutil.rmtree(work, ignore_errors=True)
            remove_cgroups(cgroup_name)


def remove_cgroups(name: str) -> None:
    """The sandbox's parent cgroup `name` in every hierarchy, children first (whether or not the target
    file claims it as a cgroup root)."""
    for root in glob.glob(f"/sys/fs/cgroup/*/{name}") + glob.glob(f"/sys/fs/cgroup/{name}"):
        for sub in sorted(Path(root).glob("**/"), key=lambda p: -len(p.parts)):
            sub.rmdir()
