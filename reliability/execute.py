"""Run one stage end to end: workload -> runner -> history (+ snapshots) -> checks -> reports."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reliability import __version__, probes
from reliability.analyze import Analysis, analyze, write_reports
from reliability.history import Journal
from reliability.profiles import sizes_for
from reliability.progress import Progress
from reliability.report.summary import print_summary
from reliability.runner import Runner
from reliability.stages.base import Stage
from reliability.targets import load as load_target
from reliability.workload.prepare import prepare_programs


@dataclass
class RunOptions:
    profile: str
    seed: int | None = None
    overrides: dict = field(default_factory=dict)  # sizes given on the command line
    runs_dir: Path = Path("runs")
    reports_dir: Path = Path("reports")
    target: str = "builtin"
    target_options: dict = field(default_factory=dict)
    box_base: int = 0  # worker i uses box box_base + i


def execute(stage: Stage, opts: RunOptions) -> Analysis:
    sizes = sizes_for(stage.name, opts.profile, opts.overrides)
    seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
    target = load_target(opts.target, opts.target_options)
    owned = target.owned()
    print(
        f"{stage.name}: {stage.title}; profile {opts.profile}, seed {seed}, target {target.name} "
        f"({target.version()}), concurrency {sizes.concurrency}",
        file=sys.stderr,
        flush=True,
    )
    prepared = prepare_programs()
    for program, why in sorted((p, w) for p, w in prepared.items() if isinstance(w, str)):
        print(f"{stage.name}: skipping {program}: {why}", file=sys.stderr)

    run_dir = opts.runs_dir / f"{stage.name}-{time.strftime('%Y%m%d-%H%M%S')}-{seed}"
    run_dir.mkdir(parents=True, exist_ok=False)
    journal = Journal(run_dir / "history.jsonl")
    journal.append(
        "stage_start",
        stage=stage.name,
        profile=opts.profile,
        seed=seed,
        target=target.name,
        target_version=target.version(),
        host=socket.gethostname(),
        pipeline_version=__version__,
        pipeline_pid=os.getpid(),
        owned=owned.to_dict(),
        capabilities=sorted(target.capabilities),
        config=sizes.to_dict(),
    )
    journal.append("snapshot", label="before", snapshot=probes.snapshot(owned, os.getpid()))
    boxes = [opts.box_base + i for i in range(sizes.concurrency)]
    runner = Runner(target, journal, boxes, prepared)
    started = time.monotonic()
    total = sizes.iterations or sizes.submissions or None
    with _stop_on_signals(runner), Progress(runner, stage.name, total):
        fed = runner.run(
            stage.workload(seed, sizes),
            keep_going=lambda n: not stage.enough(sizes, n, time.monotonic() - started),
        )
    journal.append("snapshot", label="after", snapshot=probes.snapshot(owned, os.getpid()))
    journal.append(
        "stage_end",
        executions=fed,
        interrupted=runner.stopping,
        duration_s=round(time.monotonic() - started, 3),
    )
    journal.close()

    analysis = analyze(run_dir)
    write_reports(analysis, opts.reports_dir)
    print_summary(analysis)
    return analysis


@contextmanager
def _stop_on_signals(runner: Runner):
    """First SIGINT/SIGTERM: finish the runs in flight, clean up, and report. Second: stop at once."""

    def handler(signum, frame):
        if runner.stopping:
            raise KeyboardInterrupt
        print(
            f"\n{signal.Signals(signum).name}: stopping after the runs in flight (again to abort)",
            file=sys.stderr,
        )
        runner.stop()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
