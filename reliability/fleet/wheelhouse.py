"""The pipeline and its dependencies as wheels, built once on the controller and copied to every host.

Hosts then install offline (`pip install --no-index`), so provisioning does not depend on each host
reaching PyPI and takes seconds. The directory is named by a hash of the source, so an unchanged
checkout reuses it and a provision run after no edit copies nothing (idempotence).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from reliability.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]


def source_hash(repo: Path = REPO_ROOT) -> str:
    """Hash of what goes into the wheel, plus the interpreter and machine the dependency wheels fit."""
    digest = hashlib.sha256(f"{sys.version_info[:2]} {platform.machine()}".encode())
    files = [repo / "pyproject.toml"] + sorted(
        p for p in (repo / "reliability").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    for path in files:
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reliability" / "wheelhouse"


def build_wheelhouse(cache: Path | None = None, repo: Path = REPO_ROOT) -> Path:
    """Return a directory of wheels for this checkout, building it only if it is not cached yet."""
    cache = cache or default_cache()
    target = cache / source_hash(repo)
    if (target / "COMPLETE").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        # A fixed timestamp makes the wheel byte-identical across rebuilds of the same source.
        env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(building), str(repo)],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            tail = " ".join((done.stderr or done.stdout).split()[-40:])
            raise UsageError(f"could not build the wheelhouse for the hosts: {tail}")
        _pack(building, building / "wheelhouse.tar")
        (building / "COMPLETE").write_text(source_hash(repo) + "\n")
        try:
            building.rename(target)  # atomic: a concurrent builder either wins or finds ours
        except OSError:
            if not (target / "COMPLETE").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _pack(wheelhouse: Path, tar_path: Path) -> None:
    """One tar of the wheels: hosts get one file to compare and copy, not one per wheel (each costs
    a round trip). Sorted, owner-less and dated 1980, so the same wheels always make the same tar."""
    with tarfile.open(tar_path, "w") as tar:
        for wheel in sorted(wheelhouse.glob("*.whl")):
            info = tar.gettarinfo(str(wheel), arcname=wheel.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 315532800, 0, 0, "", ""
            with wheel.open("rb") as f:
                tar.addfile(info, f)


def pipeline_wheel(wheelhouse: Path) -> Path:
    wheels = sorted(wheelhouse.glob("reliability-*.whl"))
    if len(wheels) != 1:
        raise UsageError(f"{wheelhouse}: expected one reliability wheel, found {len(wheels)}")
    return wheels[0]
