"""The runner: feeds submissions through a bounded queue to worker threads, one box per worker.

Every step is written to the history as it happens (submission, result, cleanup), so a run cut short by
a crash of the pipeline still has everything up to the cut, and the checks can be re-run on it.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from reliability.history import Journal
from reliability.targets.base import CleanupOutcome, Result, Target, TargetError
from reliability.targets.capabilities import HasLifecycle, capability
from reliability.workload.submission import Submission

# How long a "kill" submission runs before the pipeline kills it from outside, and how often to look
# for its processes: short, so the leaks stage spends its time on endings, not on waiting.
KILL_DELAY_S = 0.2
KILL_POLL_S = 0.005


@dataclass(frozen=True)
class Prepared:
    """A program ready to run: its command in the box, the files to copy in, the answer it must print."""

    command: list[str]
    files: dict[str, str]
    expected_stdout: str | None = None


@dataclass
class Stats:
    """Live counters for progress display; the history, not this, is the record."""

    started_at: float = field(default_factory=time.monotonic)
    done: int = 0
    skipped: int = 0
    in_flight: int = 0
    commands: int = 0  # sandbox commands (init, run, cleanup) that returned: the watchdog's progress
    verdicts: collections.Counter = field(default_factory=collections.Counter)
    wrong: int = 0
    cleanup_failures: int = 0

    def rate_per_min(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return 60.0 * self.done / elapsed if elapsed > 0 else 0.0


def cleanup_failed(result: Result, outcome: CleanupOutcome, box: int) -> Result:
    """The run's result when its cleanup failed for good: IE naming the step and the error.

    What the program itself got stays as evidence in raw: program_verdict and program_message."""
    failed = next((s for s in outcome.steps if not s.get("ok")), None)
    cause = outcome.error or (f"{failed['name']}: {failed.get('error', '')}" if failed else "unknown step")
    raw = {**result.raw, "program_verdict": result.verdict, "program_message": result.message}
    raw["cleanup_error"] = outcome.error
    message = f"cleanup failed at {cause}; box {box} quarantined"
    return dataclasses.replace(result, verdict="IE", message=message, raw=raw)


class Runner:
    def __init__(
        self,
        target: Target,
        journal: Journal,
        boxes: list[int],
        prepared: Mapping[str, Prepared | str],
        kill_delay_s: float = KILL_DELAY_S,
        pace_per_min: float = 0.0,
        on_done: Callable[[Submission, Result, CleanupOutcome, float], None] | None = None,
        around: Callable[[Submission], AbstractContextManager[Target | None]] | None = None,
    ):
        """`prepared` maps a program id to what runs it, or to the reason it cannot run (skipped).

        pace_per_min > 0 feeds no faster than that (a soak's steady load); on_done(submission, result,
        cleanup outcome, seconds) is called after each execution's cleanup (live metrics).
        """
        self.target = target
        self.journal = journal
        self.boxes = boxes
        self.prepared = prepared
        self.kill_delay_s = kill_delay_s
        self.pace_s = 60.0 / pace_per_min if pace_per_min > 0 else 0.0
        self.on_done = on_done
        # around(sub): a stage's fault around one execution (init to cleanup); it may yield another
        # target to run that execution on (e.g. the same sandbox relocated onto a full tmpfs).
        self.around = around
        # Several workers on one box (the locks stage): a worker whose init was refused must not clean
        # up the box, which another worker holds and is running in.
        self.shared_boxes = len(set(boxes)) < len(boxes)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._abandoned = threading.Event()
        self._workers: list[threading.Thread] = []
        # Bounded: the producer never runs far ahead of the workers, so memory stays flat on long runs.
        self._queue: queue.Queue[Submission | None] = queue.Queue(maxsize=2 * len(boxes))

    def stop(self) -> None:
        """Ask for a graceful stop: runs in flight finish and are cleaned up, nothing new starts."""
        self._stopping.set()

    def abandon(self) -> None:
        """Stop at once (a second interrupt): nothing more is started, and what a run in flight returns
        is neither journaled nor cleaned up by its worker. Its submission stays without a result, so
        --resume runs it again; the caller recovers the boxes."""
        self._abandoned.set()
        self._stopping.set()

    def join_workers(self, timeout_s: float) -> bool:
        """Wait up to timeout_s in all for the worker threads to end; True if they all did."""
        deadline = time.monotonic() + timeout_s
        for w in self._workers:
            w.join(max(0.0, deadline - time.monotonic()))
        return not any(w.is_alive() for w in self._workers)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def queue_capacity(self) -> int:
        return self._queue.maxsize

    def run(self, submissions: Iterable[Submission], keep_going: Callable[[int], bool]) -> int:
        """Run submissions while keep_going(number fed so far) holds; return how many workers took (a stop
        drops what is still queued: those never ran and are not counted)."""
        # A target's start/stop (the built-in sandbox's fork server) wraps the worker threads: started
        # before them, stopped before run() returns so the host snapshots never see it.
        life = capability(self.target, HasLifecycle)
        if life:
            life.start()
        try:
            return self._run(submissions, keep_going)
        finally:
            if life:
                life.stop()

    def _run(self, submissions: Iterable[Submission], keep_going: Callable[[int], bool]) -> int:
        workers = self._workers = [
            threading.Thread(target=self._worker, args=(box,), name=f"worker-box-{box}", daemon=True)
            for box in self.boxes
        ]
        for w in workers:
            w.start()
        fed = 0
        next_feed = time.monotonic()
        try:
            for sub in submissions:
                if self._stopping.is_set() or not keep_going(fed):
                    break
                if self.pace_s:
                    self._stopping.wait(max(0.0, next_feed - time.monotonic()))
                    next_feed += self.pace_s
                while not self._stopping.is_set():
                    try:
                        self._queue.put(sub, timeout=0.2)
                        fed += 1
                        break
                    except queue.Full:
                        continue
        except KeyboardInterrupt:
            # A second interrupt while feeding: do not wait here for the runs in flight (the caller
            # abandons them); only tell every worker to end once its run returns.
            self._stopping.set()
            self._drain()
            for _ in workers:
                self._queue.put_nowait(None)  # room: just drained, and the queue holds 2 per worker
            raise
        except BaseException:
            self._stopping.set()
            self._finish(workers)
            raise
        return fed - self._finish(workers)

    def _finish(self, workers: list[threading.Thread]) -> int:
        """Drop what is queued if stopping, let every worker end, wait for them; how many were dropped."""
        dropped = self._drain() if self._stopping.is_set() else 0  # never executed: not counted
        for _ in workers:
            self._queue.put(None)
        for w in workers:
            w.join()  # a second interrupt raises out of here, and the caller abandons the runs
        return dropped

    def _drain(self) -> int:
        """Drop what is queued but not started, so a stop does not wait for the whole queue; how many."""
        dropped = 0
        try:
            while True:
                dropped += self._queue.get_nowait() is not None
        except queue.Empty:
            return dropped

    def _worker(self, box: int) -> None:
        while True:
            sub = self._queue.get()
            if sub is None or self._abandoned.is_set():
                return
            sub = dataclasses.replace(sub, box=box)
            try:
                with self.around(sub) if self.around else nullcontext() as target:
                    self._execute(sub, target or self.target)
            except Exception as exc:  # a pipeline bug must not stop the other workers or lose the record
                self.journal.append(
                    "note",
                    message=f"pipeline error on submission {sub.index}: {exc!r}",
                    traceback=traceback.format_exc().splitlines()[-20:],  # where, for the bug report
                )

    def _execute(self, sub: Submission, target: Target) -> None:
        prep = self.prepared.get(sub.program, f"program {sub.program} is not prepared")
        if isinstance(prep, str):
            self.journal.append(
                "skip", index=sub.index, program=sub.program, language=sub.language, reason=prep
            )
            with self._lock:
                self.stats.skipped += 1
            return

        # Not waited for: the result's fsync makes it durable, and a host crash before that only means
        # the run goes again on resume. One fsync wait less per execution (~0.3 s at 100+ workers).
        self.journal.append_unsynced("submission", submission=sub.to_dict())
        with self._lock:
            self.stats.in_flight += 1
        started = time.time()
        try:
            result = self._run_in_box(sub, prep, target)
        finally:
            ended = time.time()
            with self._lock:
                self.stats.in_flight -= 1
        if self._abandoned.is_set():
            return  # the box is recovered by whoever abandoned the run; --resume runs it again
        stdout_ok = None
        if prep.expected_stdout is not None and result.verdict == "OK":
            stdout_ok = result.stdout == prep.expected_stdout
        # Progress counts the program's own verdict as judged; the history gets the run's (below).
        wrong = result.verdict != sub.expected or stdout_ok is False

        def record_result(result: Result) -> None:
            self.journal.append(
                "result",
                index=sub.index,
                box=sub.box,
                result=result.to_dict(),
                started=started,
                ended=ended,
                stdout_ok=stdout_ok,
            )

        if self.shared_boxes and result.raw.get("init_failed"):
            record_result(result)
            self._journal_pipeline_kills(sub, target)
            self.journal.append(
                "note", message=f"box {sub.box} index {sub.index}: init refused, not cleaned up"
            )
            with self._lock:
                self.stats.done += 1
                self.stats.verdicts[result.verdict] += 1
            return
        # The result is journaled once the cleanup is known: a run whose cleanup failed for good has
        # verdict IE (nothing of it is reported as success). A pipeline dying mid-cleanup leaves a
        # submission without result, which a resume recovers and runs again.
        outcome = target.cleanup(sub.box)
        self._command_returned()
        if outcome.quarantined:
            result = cleanup_failed(result, outcome, sub.box)
        record_result(result)
        self.journal.append("cleanup", index=sub.index, box=sub.box, outcome=outcome.to_dict())
        self._journal_pipeline_kills(sub, target)
        if outcome.quarantined:
            self.journal.append("quarantine", box=sub.box, reason=outcome.error)
        with self._lock:
            self.stats.done += 1
            self.stats.verdicts[result.verdict] += 1
            if wrong:
                self.stats.wrong += 1
            if not outcome.ok:
                self.stats.cleanup_failures += 1
        if self.on_done is not None:
            self.on_done(sub, result, outcome, ended - started)

    def _journal_pipeline_kills(self, sub: Submission, target: Target) -> None:
        """What the pipeline itself killed of this execution (a hung command's session): never silent."""
        for kill in target.pipeline_kills(sub.box):
            self.journal.append("pipeline_kill", index=sub.index, box=sub.box, **kill)

    def _command_returned(self) -> None:
        with self._lock:
            self.stats.commands += 1

    def _run_in_box(self, sub: Submission, prep: Prepared, target: Target) -> Result:
        try:
            target.init(sub.box)
        except TargetError as exc:
            return Result(
                verdict="IE", message=f"init of box {sub.box} failed: {exc}", raw={"init_failed": True}
            )
        finally:
            self._command_returned()
        try:
            return self._run_program(sub, prep, target)
        finally:
            self._command_returned()

    def _run_program(self, sub: Submission, prep: Prepared, target: Target) -> Result:
        if sub.ending != "kill":
            return target.run(sub.box, prep.command, sub.limits, prep.files)
        finished = threading.Event()
        killer = threading.Thread(
            target=self._kill_when_running, args=(sub.box, finished, target), daemon=True
        )
        killer.start()
        try:
            return target.run(sub.box, prep.command, sub.limits, prep.files)
        finally:
            finished.set()
            killer.join()

    def _kill_when_running(self, box: int, finished: threading.Event, target: Target) -> None:
        """The "forced kill" ending: once the program runs, SIGKILL its processes from outside."""
        while not finished.is_set():
            if target.box_pids(box):
                break
            finished.wait(KILL_POLL_S)
        if finished.wait(self.kill_delay_s):
            return
        for pid in target.box_pids(box):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
