"""The build cache for a user whose home cannot hold it (a service user, a read-only home): the
programs still build, in a directory of that user's own under the temp dir, never in someone else's.
The home is a read-only tmpfs (unwritable even for root, so the test needs no other user); mounting it
needs root."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from reliability.build_cache import cache_dir_default
from reliability.runner import Prepared
from reliability.workload.prepare import prepare_programs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a read-only tmpfs: needs root")


@pytest.fixture
def read_only_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(home)], check=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("RELIABILITY_BUILD_CACHE", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    try:
        yield home
    finally:
        subprocess.run(["umount", str(home)], check=True)
        tempfile.tempdir = None


def test_an_unwritable_home_builds_in_a_private_temp_dir(read_only_home, tmp_path):
    own = tmp_path / "tmp" / f"reliability-build-{os.getuid()}"
    assert cache_dir_default() == own
    assert isinstance(prepare_programs(["cpp/ok_sum"])["cpp/ok_sum"], Prepared)  # built, not skipped
    st = own.lstat()
    assert st.st_mode & 0o777 == 0o700 and any(own.iterdir())


def test_someone_elses_dir_at_that_path_is_never_used(read_only_home, tmp_path):
    own = tmp_path / "tmp" / f"reliability-build-{os.getuid()}"
    own.mkdir()
    os.chown(own, 65534, 65534)  # made first by another user
    assert cache_dir_default() == read_only_home / ".cache" / "reliability" / "build"


def test_the_operators_choice_is_used_as_it_is(read_only_home, monkeypatch):
    monkeypatch.setenv("RELIABILITY_BUILD_CACHE", "/srv/cache")
    assert cache_dir_default() == Path("/srv/cache")
