"""Toolchain detection against the real PATH and real files (nothing faked)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from reliability.workload.submission import LANGUAGES
from reliability.workload.toolchain import _python_candidates, detect, detect_all, usable_by_others

TOOLS = {"cpp": ["g++"], "java": ["javac", "java"], "python": ["python3"]}


def test_empty_path_gives_a_reason_for_every_language():
    found = detect_all(path="")
    assert list(found) == list(LANGUAGES)
    for language, toolchain in found.items():
        assert not toolchain.available
        assert "not found on PATH" in toolchain.missing, language


@pytest.mark.parametrize("language", LANGUAGES)
def test_installed_toolchain_is_found_with_a_version(language):
    if not all(shutil.which(tool) for tool in TOOLS[language]):
        pytest.skip(f"{language} toolchain not installed here")
    toolchain = detect(language)
    assert toolchain.available, toolchain.missing
    assert toolchain.version
    for path in toolchain.tools.values():
        assert os.path.isabs(path) and os.access(path, os.X_OK)


def test_python_is_one_an_unprivileged_box_user_can_run():
    toolchain = detect("python")
    if not toolchain.available:
        pytest.skip(toolchain.missing)
    assert usable_by_others(toolchain.tools["python3"])
    # On PATH, a python3 the box cannot run (a pyenv shim under /root, say) may come first.
    assert _python_candidates(None)


def test_usable_by_others_follows_every_parent_directory():
    top = tempfile.mkdtemp(prefix=f"wl-toolchain-{os.getpid()}-")
    try:
        os.chmod(top, 0o700)
        tool = os.path.join(top, "tool")
        with open(tool, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(tool, 0o755)
        assert not usable_by_others(tool)  # a private parent hides it
        os.chmod(top, 0o755)
        assert usable_by_others(tool)
        os.chmod(tool, 0o750)
        assert not usable_by_others(tool)
        assert not usable_by_others(os.path.join(top, "absent"))
    finally:
        shutil.rmtree(top)


def test_private_python_is_rejected_with_a_reason():
    """A python3 whose real interpreter lives in a private directory is not offered to the box."""
    top = tempfile.mkdtemp(prefix=f"wl-toolchain-{os.getpid()}-")
    try:
        os.chmod(top, 0o700)
        real = shutil.which("python3", path="/usr/bin:/bin")
        if real is None:
            pytest.skip("no system python3 to copy")
        shutil.copy2(os.path.realpath(real), os.path.join(top, "python3"))
        toolchain = detect("python", path=top)
        assert not toolchain.available
        assert "not executable by an unprivileged user" in toolchain.missing
    finally:
        shutil.rmtree(top)
