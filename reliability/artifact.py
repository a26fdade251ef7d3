"""The version of the deployed artifact under test (a deploy's build, tag or commit): recorded in each
stage's history and so in every JUnit report's properties, so a report says which deploy it judged.

Given with --artifact-version, or by the deploy's environment in RELIABILITY_ARTIFACT_VERSION.
"""

from __future__ import annotations

import os
import re

from reliability.errors import UsageError

ENV = "RELIABILITY_ARTIFACT_VERSION"
PROPERTY = "artifact_version"
_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:/@~-]{0,199}")  # tags, semver, commits, image digests


def resolve(given: str | None) -> str | None:
    """The flag's value, else the environment's; None when neither says (an empty value is no value).
    A value that is not a version (spaces, control characters, over 200 characters) is bad input."""
    value = given if given is not None else os.environ.get(ENV, "")
    if value == "":
        return None
    if not _SHAPE.fullmatch(value):
        source = "--artifact-version" if given is not None else ENV
        raise UsageError(
            f"{source} must be 1 to 200 of letters, digits and . _ + : / @ ~ - (starting with a letter "
            f"or digit), got {value[:60]!r}"
        )
    return value
