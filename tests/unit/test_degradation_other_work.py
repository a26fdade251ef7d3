"""Timing checks beside a load that is not the sandbox's cost: a slowdown that came with the programs
themselves using more of the host late than early is skipped with that reason, any other slowdown still
fails; the rate check's "other work" counts the programs' own CPU as the run's, even when no process the
pipeline waits for reaped them.

Histories are written by the real journal; the samples' clock is then set where the test says, as the
journal stamps them with its own."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import degradation, other_work
from reliability.targets.base import Result

RUNS = 64  # one a second from t=1000: early window = starts 1000..1015, late = 1048..1063
CPUS = 2


def history(tmp_path, heavy_cpu_s=lambda t: 0.0, slowdown: float = 1.5, cpu: bool = True):
    """RUNS cpp runs, the second half `slowdown` times slower, each beside a TLE spinner (left out of
    the groups) that used heavy_cpu_s(t) of CPU and ended with it at t."""
    b = HistoryBuilder(tmp_path)
    for i in range(RUNS):
        b.submit(i, "cpp/ok_sum", "cpp", "OK")
        overhead = (0.050 if i < RUNS // 2 else 0.050 * slowdown) * (1 + (i % 4) / 100)
        started = 1000.0 + i
        res = Result(verdict="OK", cpu_s=0.01, wall_s=0.01 + overhead)
        b.journal.append(
            "result", index=i, box=1, result=res.to_dict(), started=started, ended=started + 0.01 + overhead,
            stdout_ok=None,
        )  # fmt: skip
        spin = heavy_cpu_s(started)
        if spin:
            b.submit(RUNS + i, "cpp/tle_spin", "cpp", "TLE")
            res = Result(verdict="TLE", cpu_s=spin, wall_s=spin)
            b.journal.append(
                "result", index=RUNS + i, box=2, result=res.to_dict(), started=started - spin,
                ended=started + 0.02, stdout_ok=None,
            )  # fmt: skip
    quiet = {"queue_depth": 0, "queue_capacity": 8, "in_flight": 0, "done": 0, "fds": 10, "rss_kb": 1000}
    figures = {"cpu": {"host_busy_s": 0.0, "run_s": 0.0, "cpus": CPUS}} if cpu else {}
    b.journal.append("sample", **quiet, **figures)
    b.end(RUNS)
    return b.read()


def judge(history, threshold=degradation.THRESHOLD):
    return degradation.judge(history, threshold)


def test_a_slowdown_while_the_programs_load_grew_to_half_the_host_is_skipped_with_both_shares(tmp_path):
    found = judge(history(tmp_path, lambda t: 1.0 if t >= 1032 else 0.0))
    assert found.status == "skipped", found
    assert "the programs themselves used more" in found.message
    assert (
        "the programs used 0% of the host's CPU in the early window, 50% in the late one" in found.evidence[0]
    )


def test_a_slowdown_beside_a_steady_load_fails(tmp_path):
    found = judge(history(tmp_path, lambda t: 0.8))
    assert found.status == "failed", found
    assert found.evidence[0].startswith("cpp OK overhead")


def test_a_slowdown_without_the_hosts_cpu_count_fails(tmp_path):
    found = judge(history(tmp_path, lambda t: 1.0 if t >= 1032 else 0.0, cpu=False))
    assert found.status == "failed", found


def test_a_load_that_grew_by_exactly_the_threshold_does_not_excuse_a_slowdown(tmp_path):
    grew = history(tmp_path, lambda t: 0.25 if t >= 1032 else 0.0)  # 0.25 / 2 cpus: exact in binary
    assert judge(grew, threshold=0.125).status == "failed"
    assert judge(grew, threshold=0.124).status == "skipped"


def test_no_slowdown_passes_whatever_the_load_did(tmp_path):
    found = judge(history(tmp_path, lambda t: 1.8 if t >= 1032 else 0.0, slowdown=1.0))
    assert found.status == "passed", found


def test_the_programs_load_between_two_moments_counts_the_runs_ending_in_it(tmp_path):
    h = history(tmp_path, lambda t: 1.0 if t >= 1032 else 0.0, slowdown=1.0)
    assert other_work.program_load(h, 1000.0, 1015.0) == pytest.approx(15 * 0.01 / (15 * CPUS), abs=0.003)
    assert other_work.program_load(h, 1040.0, 1050.0) == pytest.approx(10 * 1.01 / (10 * CPUS), abs=0.06)
    assert other_work.program_load(h, 1050.0, 1050.0) is None  # no span
    assert other_work.program_load(history(tmp_path / "n", cpu=False), 1000.0, 1015.0) is None


@pytest.mark.parametrize(
    "cpu, programs, share",
    [
        (None, 0.0, 0.0),  # not recorded
        ({"capacity_s": 0.0, "host_busy_s": 1.0, "run_s": 0.0}, 0.0, 0.0),  # nothing to share
        ({"capacity_s": 0.5, "host_busy_s": 0.4, "run_s": 0.2}, 0.0, 0.4),  # under a second still counts
        ({"capacity_s": 10.0, "host_busy_s": 5.0, "run_s": 5.5}, 0.0, 0.0),  # the run's own figure ran ahead
        (
            {"capacity_s": 10.0, "host_busy_s": 8.0, "run_s": 1.0},
            6.0,
            0.2,
        ),  # killed programs: theirs, not other
        ({"capacity_s": 10.0, "host_busy_s": 8.0, "run_s": 6.0}, 1.0, 0.2),  # rusage above the programs
    ],
)
def test_the_whole_runs_other_work_from_stage_end(tmp_path, cpu, programs, share):
    b = HistoryBuilder(tmp_path)
    if programs:
        b.submit(0, "cpp/tle_spin", "cpp", "TLE")
        res = Result(verdict="TLE", cpu_s=programs, wall_s=programs)
        b.journal.append(
            "result", index=0, box=1, result=res.to_dict(), started=1.0, ended=2.0, stdout_ok=None
        )
    b.journal.append(
        "stage_end", executions=0, interrupted=False, duration_s=1.0, **({"cpu": cpu} if cpu else {})
    )
    assert other_work.whole_run(b.read()) == pytest.approx(share)
