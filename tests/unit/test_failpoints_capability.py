"""Failpoints is a part a target has or lacks, asked for and never guessed: the built-in sandbox has it,
a described sandbox only when its file declares "failpoints", and a wrapping target answers for what it
wraps. The part sets the failpoint for the calls made in its block, and only there."""

from __future__ import annotations

import os

import pytest
import yaml

from reliability.nemesis import cleanup_step
from reliability.refbox import failpoints
from reliability.targets.capabilities import Failpoints, capability
from reliability.targets.command import command_target
from reliability.targets.delegate import Delegating
from reliability.targets.described import description_for
from tests.described_box import target_doc


@pytest.fixture
def described(tmp_path):
    def make(capabilities: list[str]):
        path = tmp_path / f"box-{len(capabilities)}.yml"
        path.write_text(yaml.safe_dump({**target_doc(tmp_path, "fp-test"), "capabilities": capabilities}))
        return command_target(description_for(path))

    return make


def test_only_a_target_that_declares_failpoints_has_the_part(described, monkeypatch):
    monkeypatch.delenv(failpoints.ENV, raising=False)
    without, declared = described(["locks"]), described(["failpoints"])
    assert capability(without, Failpoints) is None
    assert "has no failpoints" in cleanup_step.cannot(without, "reap")
    part = capability(Delegating(declared), Failpoints)  # a wrapper answers for what it wraps
    assert part is declared and cleanup_step.cannot(Delegating(declared), "reap") == ""
    with part.failing("cleanup.reap=error"):
        assert failpoints.active() == {"cleanup.reap": "error"}  # what the sandbox's commands inherit
    assert failpoints.ENV not in os.environ
