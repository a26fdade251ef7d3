"""The concurrent stage's rate through a CLI sandbox script, with and without the refbox's server.

The clean described script (tests/data/defective_box/box.sh, the box.sh of docs/targets.md) runs the
concurrent stage at the smoke profile (200 submissions, 100 workers, target 600 a minute) twice:

  cli     each command starts `python -m reliability box` (three interpreters per execution);
  server  the target file's start/stop commands run `reliability box serve` around the runs, and each
          command is its client (refbox/server.py, boxclient.c).

Prints and records the stage's rate and whether its checks passed.
Run as root: `python3 benchmarks/bench_described_rate.py [--repeat 1]`. Writes
benchmarks/results/described_rate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reliability.checks import concurrency  # noqa: E402
from reliability.execute import RunOptions, execute  # noqa: E402
from reliability.stages import get  # noqa: E402
from tests.described_box import described_box  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "described_rate.json"
BOX_BASE = 800
BOXES = 100  # the smoke profile's workers, one box each


def measure(serve: bool) -> dict:
    with described_box(
        f"rate-{'server' if serve else 'cli'}", box_base=BOX_BASE, serve=serve, boxes=BOXES
    ) as (
        work,
        path,
        _,
    ):
        opts = RunOptions(
            profile="smoke",
            seed=3,
            runs_dir=work / "runs",
            reports_dir=work / "reports",
            target=str(path),
            box_base=BOX_BASE,
        )
        checks = {c.name: c for c in execute(get("concurrent"), opts).checks}
    rate = checks[concurrency.RATE]
    per_min = re.search(r"(\d+) executions a minute", rate.message)
    return {
        "rate_per_min": int(per_min.group(1)) if per_min else None,
        "rate_check": rate.status,
        "all_passed": all(c.status != "failed" for c in checks.values()),
        "message": rate.message,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_described_rate: needs root (the built-in sandbox behind the script)", file=sys.stderr)
        return 2
    os.environ["TMPDIR"] = tempfile.gettempdir()
    rows = []
    for i in range(args.repeat):
        for serve in (False, True):
            row = {"via": "server" if serve else "cli", "round": i, **measure(serve)}
            rows.append(row)
            print(
                f"{row['via']:6}  {row['rate_per_min']}/min  rate check {row['rate_check']}, "
                f"every check passed: {row['all_passed']}"
            )
    RESULTS.write_text(
        json.dumps(
            {"host": platform.node(), "cpus": os.cpu_count(), "load": os.getloadavg(), "rows": rows}, indent=2
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
