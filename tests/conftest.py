"""Shared test setup. Tests that need root (real cgroups, mounts, box uids) skip with the reason otherwise."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: real cgroups, tmpfs mounts and box uids")
    for item in items:
        if "root" in item.keywords or "integration" in str(item.fspath):
            item.add_marker(skip)
