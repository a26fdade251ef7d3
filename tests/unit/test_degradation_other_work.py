"""The degradation check beside other work on the host: a slowdown that came with other work growing by
more than the threshold's share of the CPU is skipped with that reason, any other slowdown still fails.

Histories are written by the real journal; the samples' clock is then set where the test says, as the
journal stamps them with its own."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import degradation, other_work
from reliability.targets.base import Result

RUNS = 64  # one a second from t=1000: early window = starts 1000..1015, late = 1048..1063
SAMPLES_AT = (999.0, 1016.0, 1032.0, 1048.0, 1064.0)
CPUS = 2
OWN_SHARE = 0.5  # the run's own share of the host's CPU, the same throughout


def history(tmp_path, other_at, slowdown: float = 1.5, cpu: bool = True):
    """RUNS cpp runs, the second half `slowdown` times slower; other_at(t) is the share of the host's
    CPU that other work took in the sample interval ending at t."""
    b = HistoryBuilder(tmp_path)
    for i in range(RUNS):
        b.submit(i, "cpp/ok_sum", "cpp", "OK")
        overhead = (0.050 if i < RUNS // 2 else 0.050 * slowdown) * (1 + (i % 4) / 100)
        res = Result(verdict="OK", cpu_s=0.01, wall_s=0.01 + overhead)
        started = 1000.0 + i
        b.journal.append(
            "result", index=i, box=1, result=res.to_dict(), started=started, ended=started + 0.01 + overhead,
            stdout_ok=None,
        )  # fmt: skip
    busy = own = 0.0
    for k, t in enumerate(SAMPLES_AT):
        if k:
            span = (t - SAMPLES_AT[k - 1]) * CPUS
            own += span * OWN_SHARE
            busy += span * (OWN_SHARE + other_at(t))
        quiet = {"queue_depth": 0, "queue_capacity": 8, "in_flight": 0, "done": 0, "fds": 10, "rss_kb": 1000}
        figures = {"cpu": {"host_busy_s": busy, "run_s": own, "cpus": CPUS}} if cpu else {}
        b.journal.append("sample", **quiet, **figures)
    b.end(RUNS)
    read = b.read()
    for sample, t in zip(read.of_type("sample"), SAMPLES_AT):
        sample["t"] = t
    return read


def judge(history, threshold=degradation.THRESHOLD):
    return degradation.judge(history, threshold)


def test_a_slowdown_while_other_work_grew_to_half_the_host_is_skipped_with_both_shares(tmp_path):
    found = judge(history(tmp_path, lambda t: 0.5 if t > 1032 else 0.0))
    assert found.status == "skipped", found
    assert "other work on the host grew" in found.message
    assert "0% of the host's CPU in the early window, 50% in the late one" in found.evidence[0]


def test_a_slowdown_beside_steady_other_work_fails(tmp_path):
    found = judge(history(tmp_path, lambda t: 0.4))
    assert found.status == "failed", found
    assert found.evidence[0].startswith("cpp OK overhead")


def test_a_slowdown_without_cpu_figures_in_the_samples_fails(tmp_path):
    found = judge(history(tmp_path, lambda t: 0.5 if t > 1032 else 0.0, cpu=False))
    assert found.status == "failed", found


def test_other_work_that_grew_by_exactly_the_threshold_does_not_excuse_a_slowdown(tmp_path):
    grew = history(tmp_path, lambda t: 0.125 if t > 1032 else 0.0)  # exact in binary, like the threshold
    assert judge(grew, threshold=0.125).status == "failed"
    assert judge(grew, threshold=0.124).status == "skipped"


def test_no_slowdown_passes_whatever_other_work_did(tmp_path):
    found = judge(history(tmp_path, lambda t: 0.9 if t > 1032 else 0.0, slowdown=1.0))
    assert found.status == "passed", found


def test_the_share_between_two_moments_comes_from_the_samples_around_them(tmp_path):
    h = history(tmp_path, lambda t: {1016.0: 0.25, 1032.0: 0.75}.get(t, 0.0), slowdown=1.0)
    assert other_work.between(h, 1000.0, 1015.0) == 0.25  # samples 999 .. 1016
    assert other_work.between(h, 1017.0, 1030.0) == 0.75  # samples 1016 .. 1032
    assert other_work.between(h, 1010.0, 1020.0) == pytest.approx((17 * 0.25 + 16 * 0.75) / 33)  # 999 .. 1032
    assert other_work.between(h, 1070.0, 1080.0) is None  # after the last sample: nothing spans it


def test_no_share_when_the_runs_own_cpu_went_back_as_after_a_resume(tmp_path):
    h = history(tmp_path, lambda t: 0.0, slowdown=1.0)
    h.of_type("sample")[1]["cpu"]["run_s"] = 0.0  # a resumed pipeline counts its CPU from zero
    h.of_type("sample")[0]["cpu"]["run_s"] = 5.0
    assert other_work.between(h, 1000.0, 1015.0) is None


def test_the_bracketing_samples_at_each_boundary(tmp_path):
    shares = {1016.0: 0.25, 1032.0: 0.75, 1048.0: 0.5, 1064.0: 0.1}
    h = history(tmp_path, lambda t: shares.get(t, 0.0), slowdown=1.0)
    assert other_work.between(h, 1016.0, 1032.0) == 0.75  # a sample at the moment itself brackets it
    assert other_work.between(h, 990.0, 1010.0) == 0.25  # before the first sample: from the first
    assert other_work.between(h, 1040.0, 1070.0) == pytest.approx(0.3)  # past the last: to the last


def test_a_short_interval_and_a_run_that_used_no_cpu_still_give_a_share(tmp_path):
    h = history(tmp_path, lambda t: 0.25, slowdown=1.0)
    first, second = h.of_type("sample")[:2]
    second["t"] = 999.5  # half a second apart
    second["cpu"]["run_s"] = first["cpu"]["run_s"]  # the run took no CPU between them
    busy = second["cpu"]["host_busy_s"] - first["cpu"]["host_busy_s"]
    assert other_work.between(h, 999.0, 999.5) == pytest.approx(busy / (0.5 * CPUS))


@pytest.mark.parametrize(
    "cpu, share",
    [
        (None, 0.0),  # not recorded
        ({"capacity_s": 0.0, "host_busy_s": 1.0, "run_s": 0.0}, 0.0),  # nothing to share
        ({"capacity_s": 0.5, "host_busy_s": 0.4, "run_s": 0.2}, 0.4),  # under a second still counts
        ({"capacity_s": 10.0, "host_busy_s": 5.0, "run_s": 5.5}, 0.0),  # the run's own figure ran ahead
    ],
)
def test_the_whole_runs_share_from_stage_end(tmp_path, cpu, share):
    b = HistoryBuilder(tmp_path)
    b.journal.append(
        "stage_end", executions=0, interrupted=False, duration_s=1.0, **({"cpu": cpu} if cpu else {})
    )
    assert other_work.whole_run(b.read()) == pytest.approx(share)
