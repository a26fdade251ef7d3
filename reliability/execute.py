"""Run one stage end to end: workload -> runner -> history (+ snapshots) -> checks -> reports.

A run can also be resumed from its history (resume_run) after the pipeline or the host died.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reliability import __version__, box_claims, probes, resume, run_processes
from reliability.abort import abort_run
from reliability.analyze import Analysis, analyze, write_reports
from reliability.errors import UsageError
from reliability.history import Journal
from reliability.metrics import DEFAULT_PREFIX, RunMetrics, check_port
from reliability.probes import host_cpu
from reliability.profiles import Sizes
from reliability.progress import Progress
from reliability.report.summary import print_summary
from reliability.runner import Runner
from reliability.sampler import Sampler, interval_for
from reliability.stages import get as get_stage
from reliability.stages.base import Stage, StageContext
from reliability.targets import load as load_target
from reliability.targets.base import Target
from reliability.targets.capabilities import Reloadable, capability
from reliability.watchdog import Watchdog
from reliability.workload import catalog
from reliability.workload.prepare import prepare_programs

METRICS_FILE = "metrics.prom"


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
    metrics_port: int | None = None  # serve /metrics on 127.0.0.1 during the run
    pushgateway: str | None = None  # push the metrics there at the end of each stage
    metrics_prefix: str = DEFAULT_PREFIX
    artifact_version: str | None = None  # the deploy under test (reliability/artifact.py)


@dataclass
class _Segment:
    """What one invocation runs: a whole stage, or the rest of a resumed one."""

    stage: Stage
    sizes: Sizes
    seed: int
    target: Target
    journal: Journal
    run_dir: Path
    boxes: list[int]
    done: set[int] = field(default_factory=set)  # indexes not to run again
    run_id: str = ""  # in the environment of every process the run starts (run_processes.py)
    prior_s: float = 0.0  # seconds the run had already lasted


def preflight(selected: list[Stage], opts: RunOptions) -> None:
    """Refuse, before the first stage starts, whatever would make any selected stage fail to run:
    output directories it cannot write, sizes out of bounds, boxes past the target's last one, a
    metrics port in use."""
    for flag, path in (("--runs", opts.runs_dir), ("--reports", opts.reports_dir)):
        check_writable_dir(flag, path)
    sizes = {stage.name: stage.sizes_for(opts.profile, opts.overrides) for stage in selected}
    target = load_target(opts.target, opts.target_options)
    try:
        for stage in selected:
            check_boxes(target, stage.boxes(sizes[stage.name].concurrency, opts.box_base))
    finally:
        target.close()
    check_port(opts.metrics_port)


def check_writable_dir(flag: str, path: Path) -> None:
    """A directory this process can write into, or one it can make: found now, not after the stage
    ran (a non-root user with a root-owned ./reports lost the run's reports to a PermissionError)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is not a directory")
    existing = next(p for p in [path, *path.absolute().parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write in {existing} (permission denied)")


def check_boxes(target: Target, boxes: list[int], given_by: str = "--box-base and --concurrency") -> None:
    """Every box within the target's range: a box past it would make every execution an IE."""
    last = None if target.box_count is None else target.box_count - 1
    if boxes and (min(boxes) < 0 or (last is not None and max(boxes) > last)):
        raise UsageError(
            f"box {min(boxes)}-{max(boxes)} (from {given_by}) is outside target "
            f"{target.name}'s boxes 0-{last if last is not None else '...'}"
        )


def execute(stage: Stage, opts: RunOptions) -> Analysis:
    sizes = stage.sizes_for(opts.profile, opts.overrides)
    seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
    target = load_target(opts.target, opts.target_options)
    boxes = stage.boxes(sizes.concurrency, opts.box_base)
    check_boxes(target, boxes)
    owned = target.owned(boxes)  # this run's boxes: another run on the host is not our leak
    print(
        f"{stage.name}: {stage.title}; profile {opts.profile}, seed {seed}, target {target.name} "
        f"({target.version()}), concurrency {sizes.concurrency}",
        file=sys.stderr,
        flush=True,
    )
    run_dir = opts.runs_dir / f"{stage.name}-{time.strftime('%Y%m%d-%H%M%S')}-{seed}"
    with box_claims.claimed(target.name, boxes, str(run_dir), _roots(target), owned.uid_range):
        return _start(stage, opts, sizes, seed, target, boxes, owned, run_dir)


def _roots(target: Target) -> list[str]:
    """The places two pipelines on one target must not share (box_claims)."""
    owned = target.owned()
    return [owned.box_root, *owned.cgroup_roots]


def _start(stage, opts, sizes, seed, target, boxes, owned, run_dir: Path) -> Analysis:
    run_dir.mkdir(parents=True, exist_ok=False)
    run_id = run_processes.new_id()
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
        cases=list(stage.cases),  # what the checks count against, whatever the code says later
        target_options=dict(opts.target_options),  # with box_base, what --resume needs to go on
        target_spec=target_spec(target),
        box_base=opts.box_base,
        run_id=run_id,
        **({"artifact_version": opts.artifact_version} if opts.artifact_version else {}),
    )
    journal.append("snapshot", label="before", snapshot=probes.snapshot(owned, os.getpid()))
    return _run(_Segment(stage, sizes, seed, target, journal, run_dir, boxes, run_id=run_id), opts)


def target_spec(target) -> str:
    """What --resume loads the target from: its name, or its target file's absolute path (a described
    target's name is the one inside the file, which load() cannot find again)."""
    reloadable = capability(target, Reloadable)
    name = reloadable.loaded_as[0] if reloadable else target.name
    return os.path.abspath(name) if os.path.isfile(name) else name


def resume_run(run_dir: Path, opts: RunOptions) -> Analysis:
    """Go on with a run whose pipeline died: recover its boxes, then run what has no result yet."""
    check_port(opts.metrics_port)  # before anything of the run is touched
    plan = resume.plan(run_dir)
    stage = get_stage(plan.stage)
    target = load_target(plan.target, plan.target_options)
    print(
        f"{stage.name}: resuming {run_dir} (seed {plan.seed}, profile {plan.profile}): {len(plan.done)} done, "
        f"{len(plan.rerun)} in flight at the cut will run again",
        file=sys.stderr,
        flush=True,
    )
    plan.boxes = stage.boxes(plan.sizes.concurrency, plan.box_base)  # locks: several on one box
    uids = target.owned(plan.boxes).uid_range
    with box_claims.claimed(target.name, plan.boxes, str(run_dir), _roots(target), uids):
        return _resume(run_dir, opts, plan, stage, target)


def _resume(
    run_dir: Path, opts: RunOptions, plan: resume.ResumePlan, stage: Stage, target: Target
) -> Analysis:
    # What the dead pipeline started (fork server, supervisors, helpers) first: a supervisor still
    # running would write its box's state again after the recover below.
    ended = run_processes.end(plan.run_id) if plan.run_id else []
    run_id = plan.run_id or run_processes.new_id()  # histories from before run ids: from now on
    recovered: list[str] = []
    for box in sorted(set(plan.boxes)):  # the dead pipeline may have been anywhere in any box's cycle
        recovered += [f"box {box}: {item}" for item in target.recover(box)]
    journal = Journal(Path(run_dir) / "history.jsonl")  # resumes: a cut last line is dropped
    journal.append(
        "resume",
        pipeline_pid=os.getpid(),
        done=len(plan.done),
        rerun=plan.rerun,
        recovered=recovered,
        ended=ended,
        run_id=run_id,
    )
    for index, box in plan.uncleaned.items():
        steps = [{"name": "recover after pipeline death", "ok": True, "error": ""}]
        journal.append("cleanup", index=index, box=box, outcome={"ok": True, "steps": steps, "error": ""})
    segment = _Segment(
        stage, plan.sizes, plan.seed, target, journal, Path(run_dir), plan.boxes, run_id=run_id
    )
    segment.done, segment.prior_s = plan.done, plan.elapsed_s
    return _run(segment, opts)


def _run(seg: _Segment, opts: RunOptions) -> Analysis:
    prepared = prepare_programs([p.id for p in catalog.ALL_PROGRAMS])
    for program, why in sorted((p, w) for p, w in prepared.items() if isinstance(w, str)):
        print(f"{seg.stage.name}: skipping {program}: {why}", file=sys.stderr)
    metrics = RunMetrics(opts.metrics_prefix)
    stage = seg.stage
    ctx = StageContext(seg.seed, seg.sizes, seg.target, seg.journal, tuple(seg.boxes), seg.run_dir)
    runner = Runner(
        seg.target,
        seg.journal,
        seg.boxes,
        prepared,
        pace_per_min=seg.sizes.pace_per_min,
        on_done=metrics.observe,
        # `ctx` is read when an execution starts: by then it holds the host fixture (bound below)
        around=(lambda sub: stage.around(ctx, sub)) if stage.around else None,
    )
    metrics.bind(runner)
    started = time.monotonic()
    total = stage.total(ctx)
    already = len(seg.done)
    workload = (s for s in stage.workload(ctx) if s.index not in seg.done)
    try:
        with ExitStack() as running:
            running.enter_context(run_processes.marked(seg.run_id))
            if opts.metrics_port is not None:  # closed before the "after" snapshot: its socket is no leak
                server = metrics.serve(opts.metrics_port)
                running.callback(server.server_close)
                running.callback(server.shutdown)
            if stage.host_fixture:  # removed again before the "after" snapshot, like the metrics server
                fixture = running.enter_context(stage.host_fixture(ctx))
                prepared.update(fixture.prepared)
                ctx = dataclasses.replace(ctx, fixture=fixture)
            running.enter_context(_stop_on_signals(runner))
            running.enter_context(Progress(runner, seg.stage.name, total - already if total else None))
            running.enter_context(Sampler(runner, seg.journal, interval_for(seg.sizes.duration_s)))
            running.enter_context(Watchdog(runner, seg.journal, seg.sizes.watchdog_s))
            cpu_start = host_cpu.cpu_now()
            fed = runner.run(
                workload,
                keep_going=lambda n: (
                    not stage.done_feeding(ctx, n + already, seg.prior_s + time.monotonic() - started)
                ),
            )
    except KeyboardInterrupt:  # the second one (_stop_on_signals): stop at once, leave nothing
        abort_run(runner, seg.target, seg.boxes, seg.journal, seg.run_id, seg.run_dir)
        raise
    cpu = host_cpu.spent(cpu_start, host_cpu.cpu_now(), time.monotonic() - started)
    owned = seg.target.owned(seg.boxes)
    seg.journal.append("snapshot", label="after", snapshot=probes.snapshot(owned, os.getpid()))
    seg.target.close()
    seg.journal.append(
        "stage_end",
        executions=fed + already,
        interrupted=runner.stopping,
        duration_s=round(seg.prior_s + time.monotonic() - started, 3),
        cpu=cpu,  # of this segment: how much of the host other work took (the rate check)
    )
    seg.journal.close()
    analysis = analyze(seg.run_dir)
    metrics.record_leaks(analysis.history)
    metrics.write_textfile(seg.run_dir / METRICS_FILE)
    write_reports(analysis, opts.reports_dir)
    if opts.pushgateway:
        try:
            metrics.push(opts.pushgateway, job=f"reliability_{seg.stage.name}")
        except OSError as exc:  # the run's verdict stands; the operator must still hear of it
            print(f"{seg.stage.name}: warning: push to {opts.pushgateway} failed: {exc}", file=sys.stderr)
    print_summary(analysis)
    return analysis


@contextmanager
def _stop_on_signals(runner: Runner):
    """First SIGINT/SIGTERM: finish the runs in flight, clean up, and report. Second: stop at once."""

    def handler(signum, frame):
        if runner.stopping:
            raise KeyboardInterrupt
        # Stopping before saying so: a second signal that comes while this one prints runs this handler
        # again, nested, and must find the run stopping, or the operator's second Ctrl-C is lost.
        runner.stop()
        print(
            f"\n{signal.Signals(signum).name}: stopping after the runs in flight (again to abort)",
            file=sys.stderr,
        )

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
