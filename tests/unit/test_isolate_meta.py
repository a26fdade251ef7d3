"""isolate's meta file -> Result, on samples of every status (tests/data/isolate/, in isolate 1.10.1's format)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.targets.meta import MetaError, meta_result, parse_meta
from reliability.targets.results import parse

DATA = Path(__file__).resolve().parents[1] / "data" / "isolate"


def sample(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize(
    "name, verdict, exit_code, signal",
    [
        ("ok.meta", "OK", 0, None),
        ("re_exit.meta", "RE", 3, None),
        ("re_missing_binary.meta", "RE", 127, None),  # a missing binary is RE, not isolate's XX
        ("re_address_space_malloc.meta", "RE", 1, None),  # -m: malloc fails, the program exits non-zero
        ("sg_segv.meta", "RE", None, 11),
        ("sg_oom_mle.meta", "MLE", None, 9),  # 1.x has no MLE status: SG + cg-oom-killed
        ("sg_xfsz_ole.meta", "OLE", None, 25),
        ("to_cpu.meta", "TLE", None, None),
        ("to_wall.meta", "TLE", None, None),
        ("xx.meta", "IE", None, None),
    ],
)
def test_every_status_maps_to_its_verdict(name, verdict, exit_code, signal):
    result = meta_result(sample(name))
    assert (result.verdict, result.exit_code, result.signal) == (verdict, exit_code, signal)
    assert result.raw["meta"]  # the parsed file is kept as evidence


def test_numbers_and_memory_come_from_the_right_keys():
    ok = meta_result(sample("ok.meta"))
    assert (ok.cpu_s, ok.wall_s) == (0.016, 0.021)
    assert ok.peak_mem_kb == 3136  # cg-mem (every process of the run), not max-rss (the largest one)
    no_cg = meta_result(sample("re_address_space_malloc.meta"))
    assert no_cg.peak_mem_kb == 32768  # without --cg there is only max-rss


def test_time_limit_message_says_cpu_or_wall():
    assert "wall" in meta_result(sample("to_wall.meta")).message
    assert "wall" not in meta_result(sample("to_cpu.meta")).message


@pytest.mark.parametrize(
    "name, words",
    [
        ("malformed.meta", "not key:value"),
        ("empty.meta", "empty meta file"),
        ("unknown_status.meta", "unknown status 'ZZ'"),
        ("bad_number.meta", "time wants a number"),
    ],
)
def test_unreadable_meta_files_raise_with_the_reason(name, words):
    with pytest.raises(MetaError, match=words):
        parse_meta(sample(name))


def test_an_unreadable_meta_file_is_a_result_error_for_the_target():
    from reliability.targets.results import ResultError

    with pytest.raises(ResultError, match="isolate meta file"):
        parse({"format": "isolate_meta"}, 0, sample("malformed.meta"))
