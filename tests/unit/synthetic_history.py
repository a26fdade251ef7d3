"""Build small, real histories (written by the real Journal, read by the real reader) for the check tests."""

from __future__ import annotations

import os
from pathlib import Path

from reliability.history import History, Journal, read
from reliability.targets.base import CleanupOutcome, Limits, Owned, Result
from reliability.workload.submission import Submission

LIMITS = Limits(cpu_s=1.0, wall_s=2.0, mem_mb=128, processes=8, output_kb=1024)
STEPS = ("kill", "reap", "unmount", "remove cgroup", "close fds", "remove temp dirs")


class UnsyncedJournal(Journal):
    """The real journal (format, schema, seq) without the fsyncs: a test's history needs no crash
    safety, and waiting on the disk was most of the check tests' time (and of each mutant's in
    `nox -s mutation`)."""

    def append(self, event_type: str, /, **fields) -> dict:
        return self.append_unsynced(event_type, **fields)

    def close(self) -> None:
        self._synced = self.next_seq  # flushed to the OS is enough here: close without an fsync
        super().close()


class HistoryBuilder:
    def __init__(
        self,
        tmp_path: Path,
        stage: str = "stress",
        seed: int = 7,
        owned: Owned | None = None,
        cases: tuple[str, ...] | None = None,  # the stage's case list, as stage_start records it
        **start,  # more fields of the stage_start event (e.g. an artifact_version)
    ):
        self.run_dir = tmp_path / "run"
        self.journal = UnsyncedJournal(self.run_dir / "history.jsonl")
        self.journal.append(
            "stage_start",
            stage=stage,
            profile="smoke",
            seed=seed,
            target="builtin",
            target_version="test",
            host="testhost",
            pipeline_version="0.1.0",
            pipeline_pid=os.getpid(),
            owned=(
                owned or Owned(box_root=str(tmp_path / "boxes"), cgroup_roots=["/sys/fs/cgroup/pids/rb"])
            ).to_dict(),
            capabilities=["locks"],
            config={"submissions": 3},
            **({} if cases is None else {"cases": list(cases)}),
            **start,
        )

    def submit(
        self,
        index: int,
        program: str = "cpp/ok",
        language: str = "cpp",
        expected: str = "OK",
        box: int = 1,
        case: str = "",
    ):
        sub = Submission(index, program, language, expected, "normal", LIMITS, box=box, case=case)
        self.journal.append("submission", submission=sub.to_dict())

    def result(
        self, index: int, verdict: str, box: int = 1, stdout_ok: bool | None = None, message: str = ""
    ):
        res = Result(verdict=verdict, cpu_s=0.01, wall_s=0.02, message=message)
        self.journal.append(
            "result", index=index, box=box, result=res.to_dict(), started=1.0, ended=2.0, stdout_ok=stdout_ok
        )

    def cleanup(self, index: int, box: int = 1, failing_step: str | None = None, error: str = "EBUSY"):
        steps = [
            {"name": s, "ok": s != failing_step, "error": error if s == failing_step else ""} for s in STEPS
        ]
        outcome = CleanupOutcome(ok=failing_step is None, steps=steps, error=error if failing_step else "")
        self.journal.append("cleanup", index=index, box=box, outcome=outcome.to_dict())

    def run(self, index: int, program: str = "cpp/ok", language: str = "cpp", expected: str = "OK", **kw):
        """A whole execution as the runner records it: submission, result, cleanup."""
        self.submit(index, program, language, expected)
        self.result(index, kw.pop("got", expected), stdout_ok=kw.pop("stdout_ok", expected == "OK" or None))
        self.cleanup(index, **kw)

    def skip(self, index: int, language: str = "java", reason: str = "javac not found"):
        self.journal.append("skip", index=index, program=f"{language}/ok", language=language, reason=reason)

    def snapshot(self, label: str, snapshot: dict):
        self.journal.append("snapshot", label=label, snapshot=snapshot)

    def end(self, executions: int = 3, interrupted: bool = False):
        self.journal.append("stage_end", executions=executions, interrupted=interrupted, duration_s=1.5)

    def read(self) -> History:
        self.journal.close()
        return read(self.run_dir)


def clean_runs(b: HistoryBuilder) -> HistoryBuilder:
    """Three correct executions, one per language, and a finished stage."""
    b.run(0, "cpp/ok", "cpp", "OK")
    b.run(1, "java/tle_spin", "java", "TLE")
    b.run(2, "python/re_exception", "python", "RE")
    return b


def isolation_history(
    tmp_path: Path, runs: list[tuple[str, Result]], host: dict | None = None, cases=None
) -> History:
    """An isolation stage's history: `runs` ((case, result) in order), each submitted expecting the
    verdict its case declares (OK without a case table); the case table and the host's evidence
    journaled when given."""
    b = HistoryBuilder(tmp_path, stage="isolation")
    if cases is not None:
        table = {name: case.to_dict() for name, case in cases.items()}
        b.journal.append("evidence", label="isolation cases", evidence={"cases": table})
    for i, (case, result) in enumerate(runs):
        b.submit(i, f"hostile/{case}", "python", cases[case].verdict if cases else "OK")
        b.journal.append(
            "result", index=i, box=1, result=result.to_dict(), started=1.0, ended=2.0, stdout_ok=None
        )
    if host is not None:
        b.journal.append("evidence", label="isolation host", evidence=host)
    b.end()
    return b.read()
