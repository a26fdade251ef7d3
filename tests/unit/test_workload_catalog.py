"""The program catalog: every program has a source, a verdict, an ending and (if OK) an answer."""

from __future__ import annotations

import re

import pytest

from reliability.errors import UsageError
from reliability.targets.base import VERDICTS
from reliability.workload import catalog
from reliability.workload.catalog import BEHAVIOURS, PROGRAMS, WORKLOAD_VERDICTS
from reliability.workload.submission import ENDINGS, LANGUAGES


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.id)
def test_program_is_well_formed(program):
    assert program.source.is_file()
    assert program.id == f"{program.language}/{program.name}"
    assert program.source.parent.name == program.language
    assert program.expected in VERDICTS and program.ending in ENDINGS and program.behaviour in BEHAVIOURS
    if program.expected == "OK":
        assert program.expected_stdout and program.expected_stdout.endswith("\n")
    else:
        assert program.expected_stdout is None


@pytest.mark.parametrize("program", catalog.pick(language="java"), ids=lambda p: p.id)
def test_java_public_class_matches_file_name(program):
    assert re.search(rf"public class {program.source.stem}\b", program.source.read_text())


def test_ids_are_unique():
    assert len({p.id for p in PROGRAMS}) == len(PROGRAMS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_outcome_and_one_sleeper(language):
    for verdict in WORKLOAD_VERDICTS:
        assert [p for p in catalog.pick(language, verdict) if p.ending != "kill"], verdict
    behaviours = {p.behaviour for p in catalog.pick(language, "TLE")}
    assert behaviours == {"spin", "sleep"}
    (sleeper,) = catalog.pick(language, ending="kill")
    assert (sleeper.name, sleeper.expected, sleeper.behaviour) == ("sleeper", "RE", "sleep")


def test_pick_filters_and_get_finds():
    picked = catalog.pick("python", "RE", "crash")
    assert picked and all((p.language, p.expected, p.ending) == ("python", "RE", "crash") for p in picked)
    assert catalog.get("cpp/ok_sum").expected_stdout == "163183\n"


@pytest.mark.parametrize("kwargs", [{"language": "go"}, {"ending": "explode"}])
def test_pick_rejects_unknown_criteria(kwargs):
    with pytest.raises(UsageError):
        catalog.pick(**kwargs)
