"""The `reliability` command and `python -m reliability`.

`reliability box ...` goes straight to the refbox's own CLI, without importing the pipeline: a CLI
sandbox script built on it (docs/targets.md) starts it three times per execution, and the pipeline's
imports would more than double each start-up.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["box"]:
        from reliability.refbox.cli import main as box_main

        return box_main(argv, prog="reliability")
    from reliability.cli import main as pipeline_main

    return pipeline_main(argv)
