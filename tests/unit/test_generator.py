"""The seeded generator: determinism (pinned digests), mix and ranges as properties, bad input."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reliability.errors import UsageError
from reliability.workload import catalog, generator
from reliability.workload.generator import (
    BLOCK,
    DEFAULT_MIX,
    DEFAULT_RANGES,
    ENDING_VERDICT,
    FAST_RANGES,
    PRESETS,
    Ranges,
    digest,
    generate,
    generate_endings,
    parse_mix,
)
from reliability.workload.submission import ENDINGS, LANGUAGES

# Pinned: a change here means the same seed no longer replays the same workload. Only change these
# on purpose (new programs, new ranges) and say so in the change.
PINNED = {
    "generate(20240601, 300)": "5155082ceca8e4aeb2b3c225e68d6e30e49c0e81624021b80b298c44d98bb732",
    "generate(20240601, 300, fast)": "ceb981b04f790d6f3f51a860063af84c4b14e6841349cd6bd3af19401931f1e5",
    "generate_endings(7, 48)": "e59eb6d93b44cf412f8eb8dd8430d3e949989809cfe2a09539b81f1b2320ecc1",
}


def _pinned_lists() -> dict[str, list]:
    return {
        "generate(20240601, 300)": generate(20240601, 300),
        "generate(20240601, 300, fast)": generate(20240601, 300, ranges=FAST_RANGES),
        "generate_endings(7, 48)": generate_endings(7, 48),
    }


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_digest(name):
    assert digest(_pinned_lists()[name]) == PINNED[name]


def test_same_seed_same_list_other_seed_other_list():
    assert generate(5, 200) == generate(5, 200)
    assert digest(generate(5, 200)) != digest(generate(6, 200))
    assert generate_endings(5, 40) == generate_endings(5, 40)


def test_shorter_list_is_a_prefix_of_a_longer_one():
    assert generate(11, 1234)[:321] == generate(11, 321)
    assert generate_endings(11, 200)[:37] == generate_endings(11, 37)


def test_stream_is_endless_and_agrees_with_generate():
    import itertools

    first = list(itertools.islice(generator.stream(9, ranges=FAST_RANGES), 2 * BLOCK + 7))
    assert first == generate(9, 2 * BLOCK + 7, ranges=FAST_RANGES)


def test_ranges_preset():
    assert generator.ranges_preset("fast") is FAST_RANGES
    assert generator.ranges_preset("default") is DEFAULT_RANGES


def test_default_mix_is_exact_in_every_block():
    subs = generate(3, 10 * BLOCK)
    for start in range(0, len(subs), BLOCK):
        assert Counter(s.expected for s in subs[start : start + BLOCK]) == DEFAULT_MIX


def test_presets_are_valid_and_fast_is_faster():
    for ranges in PRESETS.values():
        assert ranges.validate() is ranges
    assert FAST_RANGES.cpu_s[1] < DEFAULT_RANGES.cpu_s[0] + DEFAULT_RANGES.cpu_s[1]
    assert FAST_RANGES.wall_s[1] < DEFAULT_RANGES.wall_s[1]


def _within(limits, ranges: Ranges, ending: str) -> bool:
    wall = ranges.kill_wall_s if ending == "kill" else ranges.wall_s
    return (
        ranges.cpu_s[0] <= limits.cpu_s <= ranges.cpu_s[1]
        and wall[0] <= limits.wall_s <= wall[1]
        and ranges.mem_mb[0] <= limits.mem_mb <= ranges.mem_mb[1]
        and ranges.processes[0] <= limits.processes <= ranges.processes[1]
        and ranges.output_kb[0] <= limits.output_kb <= ranges.output_kb[1]
        and limits.wall_s >= limits.cpu_s
    )


languages_st = st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=3, unique=True)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=-(2**63), max_value=2**63),
    count=st.integers(min_value=0, max_value=400),
    languages=languages_st,
    preset=st.sampled_from(sorted(PRESETS)),
)
def test_generate_properties(seed, count, languages, preset):
    ranges = PRESETS[preset]
    subs = generate(seed, count, languages=languages, ranges=ranges)
    assert [s.index for s in subs] == list(range(count))
    for s in subs:
        program = catalog.get(s.program)
        assert (s.language, s.expected, s.ending) == (program.language, program.expected, program.ending)
        assert s.language in languages
        assert s.ending != "kill"  # nothing would kill the sleeper in the stress stage
        assert s.box == 0
        assert _within(s.limits, ranges, s.ending)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    weights=st.dictionaries(
        st.sampled_from(catalog.WORKLOAD_VERDICTS), st.integers(min_value=0, max_value=100), min_size=1
    ).filter(lambda w: sum(w.values()) > 0),
    blocks=st.integers(min_value=5, max_value=20),
)
def test_mix_is_respected_for_large_counts(seed, weights, blocks):
    count = blocks * BLOCK
    seen = Counter(s.expected for s in generate(seed, count, mix=weights))
    total = sum(weights.values())
    for verdict in catalog.WORKLOAD_VERDICTS:
        share = weights.get(verdict, 0) / total
        assert abs(seen[verdict] / count - share) <= 1 / BLOCK  # rounding: at most one seat per block
        if share == 0:
            assert seen[verdict] == 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(), count=st.integers(min_value=0, max_value=200), languages=languages_st)
def test_generate_endings_properties(seed, count, languages):
    subs = generate_endings(seed, count, languages=languages, ranges=FAST_RANGES)
    for s in subs:
        assert s.ending == ENDINGS[s.index % len(ENDINGS)]
        assert s.language == languages[(s.index // len(ENDINGS)) % len(languages)]
        assert s.expected == ENDING_VERDICT[s.ending]
        assert catalog.get(s.program).ending == s.ending
        assert _within(s.limits, FAST_RANGES, s.ending)
    kills = [s for s in subs if s.ending == "kill"]
    assert all(catalog.get(s.program).name == "sleeper" for s in kills)


def test_every_ending_and_language_pair_in_each_cycle():
    subs = generate_endings(1, len(ENDINGS) * len(LANGUAGES))
    assert {(s.ending, s.language) for s in subs} == {(e, lang) for e in ENDINGS for lang in LANGUAGES}


def test_parse_mix():
    assert parse_mix("OK=70, TLE=20,MLE=5,RE=5") == {"OK": 70, "TLE": 20, "MLE": 5, "RE": 5}
    assert parse_mix("TLE=1") == {"TLE": 1}


def test_ranges_from_dict_overrides_and_accepts_lists():
    ranges = Ranges.from_dict({"processes": [40, 50]}, base=FAST_RANGES)
    assert ranges.processes == (40, 50)
    assert ranges.cpu_s == FAST_RANGES.cpu_s
    assert Ranges.from_dict(DEFAULT_RANGES.to_dict()) == DEFAULT_RANGES


BAD_CALLS = {
    "unknown outcome": ("unknown outcome 'OLE'", lambda: generate(1, 10, mix={"OK": 1, "OLE": 1})),
    "negative weight": ("negative", lambda: generate(1, 10, mix={"OK": -1, "TLE": 2})),
    "zero weights": ("positive", lambda: generate(1, 10, mix={"OK": 0})),
    "empty mix": ("mix:", lambda: generate(1, 10, mix={})),
    "text weight": ("must be a number", lambda: generate(1, 10, mix={"OK": "70"})),
    "unparsable mix": ("OUTCOME=WEIGHT", lambda: parse_mix("OK:70")),
    "unknown language": ("'rust'", lambda: generate(1, 10, languages=["cpp", "rust"])),
    "language string": ("languages:", lambda: generate(1, 10, languages="cpp")),
    "duplicate language": ("once", lambda: generate(1, 10, languages=["cpp", "cpp"])),
    "no languages": ("languages:", lambda: generate_endings(1, 10, languages=[])),
    "unknown ending": ("endings:", lambda: generate_endings(1, 10, endings=["normal", "explode"])),
    "negative count": ("count", lambda: generate(1, -1)),
    "text seed": ("seed", lambda: generate("1", 10)),
    "float seed": ("seed", lambda: generate(1.5, 10)),
    "low above high": ("low <= high", lambda: generate(1, 10, ranges=Ranges(cpu_s=(4.0, 3.0)))),
    "zero low": ("low <= high", lambda: Ranges(output_kb=(0, 10)).validate()),
    "float memory": ("whole numbers", lambda: Ranges(mem_mb=(128.5, 200)).validate()),
    "not a pair": ("pair", lambda: Ranges(cpu_s=(2.0,)).validate()),
    "nan": ("numbers", lambda: Ranges(cpu_s=(float("nan"), 3.0)).validate()),
    "cpu floor": ("cpu_s low end must be at least 1.0", lambda: Ranges(cpu_s=(0.5, 4.0)).validate()),
    "memory floor": ("mem_mb low end", lambda: Ranges(mem_mb=(32, 256)).validate()),
    "memory above heap cap": (
        "heap cap",
        lambda: Ranges(cpu_s=(9.0, 10.0), wall_s=(20.0, 30.0), mem_mb=(128, 4096)).validate(),
    ),
    "process floor": ("processes low end", lambda: Ranges(processes=(8, 64)).validate()),
    "output floor": ("output_kb low end", lambda: Ranges(output_kb=(1, 64)).validate()),
    "kill wall floor": ("kill_wall_s low end", lambda: Ranges(kill_wall_s=(1.0, 2.0)).validate()),
    "wall below cpu": ("wall_s low end", lambda: Ranges(wall_s=(3.0, 12.0)).validate()),
    "mle slower than cpu": ("MLE program", lambda: Ranges(mem_mb=(128, 900)).validate()),
    "unknown ranges key": ("unknown key 'cpu'", lambda: Ranges.from_dict({"cpu": [1, 2]})),
    "ranges not a mapping": ("mapping", lambda: Ranges.from_dict([1, 2])),
    "ranges value not a pair": ("[low, high]", lambda: Ranges.from_dict({"cpu_s": "1-2"})),
    "unknown preset": ("unknown ranges preset 'tiny'", lambda: generator.ranges_preset("tiny")),
    "stream checks at once": ("unknown outcome", lambda: generator.stream(1, mix={"XX": 1})),
    "unknown program": ("unknown program", lambda: catalog.get("cobol/ok_sum")),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_is_one_line_usage_error(case):
    fragment, call = BAD_CALLS[case]
    with pytest.raises(UsageError) as info:
        call()
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
