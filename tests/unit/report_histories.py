"""Histories for the report tests: real journal, real snapshots of this process, known times and failures."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from synthetic_history import LIMITS, HistoryBuilder

from reliability import probes
from reliability.analyze import Analysis, analyze
from reliability.targets.base import Owned
from reliability.workload.submission import Submission

# A target message that would break the page if it were not escaped.
HOSTILE = "<script>alert('x')</script> & </table>"


def owned_in(tmp_path: Path) -> Owned:
    (tmp_path / "boxes").mkdir(exist_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return Owned(
        box_root=str(tmp_path / "boxes"),
        cgroup_roots=["/sys/fs/cgroup/pids/reliability-report-test"],
        temp_roots=[str(tmp_path / "tmp")],
    )


def timed_run(
    b: HistoryBuilder,
    index: int,
    program: str,
    language: str,
    expected: str,
    got: str,
    at_s: float,
    wall_s: float,
    cpu_s: float,
    message: str = "",
) -> None:
    """One execution ending `at_s` seconds after the stage started, with the given times."""
    t0 = _start_t(b)
    b.journal.append(
        "submission",
        submission=Submission(index, program, language, expected, "normal", LIMITS, box=1).to_dict(),
    )
    result = {"verdict": got, "cpu_s": cpu_s, "wall_s": wall_s, "message": message}
    b.journal.append(
        "result",
        index=index,
        box=1,
        result=result,
        started=t0 + at_s - wall_s,
        ended=t0 + at_s,
        stdout_ok=True if got == "OK" else None,
    )
    b.cleanup(index)


def _start_t(b: HistoryBuilder) -> float:
    with open(b.journal.path, encoding="utf-8") as f:
        return json.loads(f.readline())["t"]


def failing_run(tmp_path: Path, samples: bool = True) -> Path:
    """A finished stress run with one wrong verdict, one leaked mount, and queue samples; its run dir."""
    owned = owned_in(tmp_path)
    b = HistoryBuilder(tmp_path, owned=owned, seed=4242)
    before = probes.snapshot(owned, os.getpid())
    b.snapshot("before", before)
    for i in range(30):  # ten per language, spread over 90 s
        language = ("cpp", "java", "python")[i % 3]
        timed_run(
            b, i, f"{language}/ok", language, "OK", "OK", at_s=3.0 * i + 1, wall_s=0.05 + i * 0.01, cpu_s=0.02
        )
        if samples and i % 5 == 0:
            b.journal.append(
                "sample", queue_depth=i % 4, queue_capacity=4, in_flight=2, done=i, fds=7, rss_kb=40000
            )
    timed_run(b, 30, "cpp/mle_vector", "cpp", "MLE", "OK", at_s=92.0, wall_s=0.2, cpu_s=0.1, message=HOSTILE)
    after = copy.deepcopy(before)
    after["mounts"].append(
        {
            "id": 99999,
            "parent": 1,
            "mount_point": f"{owned.box_root}/3",
            "fstype": "tmpfs",
            "source": "refbox",
        }
    )
    b.snapshot("after", after)
    b.end(executions=31)
    b.journal.close()
    return b.run_dir


def failing_analysis(tmp_path: Path, samples: bool = True) -> Analysis:
    return analyze(failing_run(tmp_path, samples))


def degrading_run(tmp_path: Path) -> Path:
    """40 C++ runs whose sandbox overhead doubles halfway through: the degradation check fails."""
    b = HistoryBuilder(tmp_path, owned=owned_in(tmp_path), seed=99)
    for i in range(40):
        overhead = (0.05 if i < 20 else 0.10) + 0.001 * (i % 5)
        timed_run(b, i, "cpp/ok", "cpp", "OK", "OK", at_s=2.0 * i + 1, wall_s=0.02 + overhead, cpu_s=0.02)
    b.end(executions=40)
    b.journal.close()
    return b.run_dir
