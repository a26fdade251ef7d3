"""Resuming a run after the pipeline or the host died: what is done, what was in flight, what is left.

The seed and the index make the workload exact: the resumed run regenerates the same submissions and
skips every index that already has a result (or a skip). An index with a submission but no result was
in flight when the pipeline died: its box is recovered, then it runs again. An index with a result but
no cleanup died mid-cleanup: its box is recovered and the recovery is journaled as its cleanup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reliability.errors import UsageError
from reliability.history import History, read
from reliability.profiles import Sizes


@dataclass
class ResumePlan:
    run_dir: Path
    stage: str
    profile: str
    seed: int
    sizes: Sizes
    target: str
    target_options: dict
    boxes: list[int]
    done: set[int]  # indexes with a result or a skip: never run again
    rerun: list[int]  # submitted, no result: in flight at the cut, run again
    uncleaned: dict[int, int] = field(default_factory=dict)  # index -> box: result but no cleanup
    elapsed_s: float = 0.0  # how long the run had been going before the cut
    box_base: int = 0  # the first box; a stage may map its workers otherwise (Stage.boxes)
    run_id: str = ""  # what the run's processes carry (run_processes.py); "" in older histories


def plan(run_dir: str | Path) -> ResumePlan:
    history = read(run_dir)  # tolerates a last line cut by the crash; refuses anything worse
    return plan_from(history)


def plan_from(history: History) -> ResumePlan:
    start = history.stage_start
    end = history.stage_end
    if end is not None and not end["interrupted"] and end["seq"] > _last_resume_seq(history):
        raise UsageError(f"{history.run_dir}: the run already finished; nothing to resume")
    if "box_base" not in start or "target_options" not in start:
        raise UsageError(
            f"{history.run_dir}: the history does not say which boxes and target options it used"
        )
    config = dict(start["config"])
    sizes = Sizes(**{k: v for k, v in config.items() if k in Sizes.__dataclass_fields__})
    results = set(history.count_by_index("result"))
    done = results | set(history.count_by_index("skip"))
    cleaned = {c["index"] for c in history.cleanups}
    return ResumePlan(
        run_dir=history.run_dir,
        stage=start["stage"],
        profile=start["profile"],
        seed=start["seed"],
        sizes=sizes,
        target=start.get("target_spec", start["target"]),  # histories before target_spec: a name
        target_options=dict(start["target_options"]),
        boxes=[start["box_base"] + i for i in range(sizes.concurrency)],
        done=done,
        rerun=sorted(set(history.submissions) - done),
        uncleaned={i: history.results[i]["box"] for i in sorted(results - cleaned)},
        elapsed_s=running_time(history),
        box_base=start["box_base"],
        run_id=_run_id(history),
    )


def running_time(history: History) -> float:
    """Seconds the run was going, summed over its segments: the time it was down is not counted.

    A segment starts at the stage start or at a "resume" event and ends at its last event before the
    next resume.
    """
    total, seg_start, last = 0.0, None, None
    for event in history.events:
        if event["type"] == "stage_start" or event["type"] == "resume":
            if seg_start is not None:
                total += max(0.0, last - seg_start)
            seg_start = event["t"]
        last = event["t"]
    if seg_start is not None:
        total += max(0.0, last - seg_start)
    return total


def _run_id(history: History) -> str:
    """The run's id: from its start, or from the first resume that gave an older history one."""
    ids = [start_id for start_id in [history.stage_start.get("run_id")] if start_id]
    ids += [e["run_id"] for e in history.of_type("resume") if e.get("run_id")]
    return ids[0] if ids else ""


def _last_resume_seq(history: History) -> int:
    resumes = history.of_type("resume")
    return resumes[-1]["seq"] if resumes else -1
