"""Every check of every stage is total: over generated histories that the history schema accepts, each
returns results and never raises (a check that raises is a crash of the verdict, not a verdict).

The "evidence" and "crash" payloads are left out: the schema types them only as objects (each stage
writes its own shape, which the check tests over synthetic events cover), so their fields are not
something the schema promises. Every other event type is generated with its optional fields present or
absent, in any order and any number.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability.checks.base import CheckResult
from reliability.history import History
from reliability.schemas import errors
from reliability.stages import all_stages

VERDICTS = ("OK", "TLE", "MLE", "RE", "OLE", "IE")
PROGRAMS = ("cpp/ok", "python/ok_sum", "exhaustion/memory", "hostile/setuid", "hostile/read_host_file")
index = st.integers(0, 5)
box = st.integers(0, 3)
number = st.floats(0, 100, allow_nan=False)
text = st.sampled_from(["", "x", "box 1 quarantined", "cleanup failed at unmount", "alone\n"])


def optional(**fields) -> st.SearchStrategy[dict]:
    """A dict holding any subset of `fields`."""
    return st.fixed_dictionaries({}, optional=fields)


limits = st.fixed_dictionaries(
    {"cpu_s": number, "wall_s": number, "mem_mb": st.integers(1, 512), "processes": st.integers(1, 8),
     "output_kb": st.integers(0, 64)}
)  # fmt: skip
submission = st.fixed_dictionaries(
    {"index": index, "program": st.sampled_from(PROGRAMS), "language": st.sampled_from(["cpp", "python"]),
     "expected": st.sampled_from(VERDICTS), "ending": st.just("normal"), "limits": limits},
    optional={"box": box},
)  # fmt: skip
result = st.fixed_dictionaries(
    {"verdict": st.sampled_from(VERDICTS)},
    optional={"cpu_s": number, "wall_s": number, "message": text, "stdout": text,
              "raw": optional(program_verdict=st.sampled_from(VERDICTS))},
)  # fmt: skip
step = st.fixed_dictionaries(
    {"name": st.sampled_from(["kill", "unmount"]), "ok": st.booleans()}, optional={"error": text}
)
outcome = st.fixed_dictionaries(
    {"ok": st.booleans()}, optional={"steps": st.lists(step, max_size=2), "error": text}
)
count = st.integers(0, 20)

EVENTS = {
    "submission": st.fixed_dictionaries({"submission": submission}),
    "result": st.fixed_dictionaries(
        {"index": index, "box": box, "result": result, "started": number, "ended": number,
         "stdout_ok": st.sampled_from([True, False, None])}
    ),
    "cleanup": st.fixed_dictionaries({"index": st.one_of(st.none(), index), "box": box, "outcome": outcome}),
    "skip": st.fixed_dictionaries({"index": index, "program": st.just("java/ok"), "language": st.just("java"), "reason": text}),
    "quarantine": st.fixed_dictionaries({"box": box, "reason": text}),
    "fault": st.fixed_dictionaries({"kind": st.sampled_from(["cpu", "memory"]), "phase": st.sampled_from(["start", "end"]), "detail": text}),
    "note": st.fixed_dictionaries({"message": text}),
    "snapshot": st.fixed_dictionaries({"label": st.sampled_from(["before", "after"]), "snapshot": st.just({})}),
    "sample": st.fixed_dictionaries(
        {"queue_depth": count, "queue_capacity": count, "in_flight": count, "done": count, "fds": count, "rss_kb": count}
    ),
    "watchdog": st.fixed_dictionaries(
        {"stalled_s": number, "done": count, "in_flight": count,
         "stacks": st.dictionaries(st.sampled_from(["w1", "w2"]), st.lists(text, max_size=3), max_size=2)}
    ),
    "stage_end": st.fixed_dictionaries(
        {"executions": count, "interrupted": st.booleans(), "duration_s": number},
        optional={"cpu": st.fixed_dictionaries({"host_busy_s": number, "run_s": number, "capacity_s": number})},
    ),
}  # fmt: skip
event = st.sampled_from(sorted(EVENTS)).flatmap(lambda kind: EVENTS[kind].map(lambda f: {"type": kind, **f}))
config = optional(
    watchdog_s=number,
    concurrency=st.integers(1, 200),
    min_rate_per_min=number,
    iterations=st.integers(0, 3),
    duration_s=number,
)
start = st.fixed_dictionaries(
    {"type": st.just("stage_start"), "stage": st.just("any"), "profile": st.sampled_from(["smoke", "soak"]),
     "seed": st.integers(0, 9), "target": st.just("builtin"), "target_version": st.just("t"), "host": st.just("h"),
     "pipeline_version": st.just("0"), "pipeline_pid": st.just(1), "owned": st.just({"box_root": "/b"}),
     "capabilities": st.sampled_from([[], ["locks"]]), "config": config}
)  # fmt: skip
CHECKS = sorted({c for stage in all_stages().values() for c in stage.checks}, key=lambda c: c.__module__)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=start, rest=st.lists(event, max_size=25))
def test_every_check_returns_results_for_any_history_the_schema_accepts(first, rest):
    events = [{"seq": i, "t": float(i), **e} for i, e in enumerate([first, *rest])]
    for e in events:
        assert errors("history-record", e) == [], e  # the generator stays inside the schema
    history = History(Path("/nonexistent/run/history.jsonl"), events)
    for check in CHECKS:
        results = check(history)
        assert isinstance(results, list) and all(isinstance(r, CheckResult) for r in results), check
