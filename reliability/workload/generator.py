"""The seeded workload: the same seed gives the same list of submissions on every run and machine.

Only random.Random(seed) draws the choices (no hash(), no clock), and every limit is rounded, so the
list, and its digest, are reproducible.

Why every outcome holds under the ranges (figures measured on a 2-core Firecracker VM, where first
touches of memory are slow, with the flags in build.py):
- OK programs use at most about 0.1 s CPU (a JVM start-up; C++ and Python about 0.01-0.08 s) and
  35 MB of memory (the JVM; others under 10 MB), on 1 thread (13 for the JVM). The floors below keep
  them 10x under the CPU floor, 2.7x under the memory floor and 2.4x under the process floor. The
  default wall ranges start at 6 s (fast: 3 s), so they stay OK while they get 1/60 (1/30) of a core.
- TLE programs never end: the spinner burns CPU until the CPU limit (or the wall limit when cores are
  shared); the sleeper uses no CPU until the wall limit.
- The MLE program touches memory until the cgroup's OOM killer ends it. It costs at most about
  MLE_START_CPU_S + MLE_CPU_S_PER_MB * MB of CPU (measured 0.12-0.56 s at 256 MB, 1.4 s at 512 MB on
  cold memory), so ranges must keep MLE_MARGIN times that at the largest memory limit below the
  smallest CPU limit; and the JVM heap cap (build.JAVA_MAX_HEAP_MB) lies above every memory limit.
- RE programs fail within their start-up.
- The "kill" sleeper gets a wall limit from kill_wall_s (at least 10 s), far longer than the pipeline
  waits before killing it (the runner's delay is a fraction of a second); if it is not killed, the run
  ends TLE and shows up as a wrong verdict.
The sandbox must not let a cgroup swap (cgroup v2: memory.swap.max = 0), or MLE becomes a slow TLE.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

from reliability.errors import UsageError
from reliability.sandbox_values import Limits
from reliability.workload import catalog
from reliability.workload.build import JAVA_MAX_HEAP_MB
from reliability.workload.submission import ENDINGS, LANGUAGES, Submission

DEFAULT_MIX = {"OK": 70, "TLE": 20, "MLE": 5, "RE": 5}
ENDING_VERDICT = {"normal": "OK", "timeout": "TLE", "crash": "RE", "kill": "RE"}
BLOCK = 100  # stream() holds the mix exactly in each block of this many submissions

MIN_CPU_S = 1.0  # OK programs need <= 0.1 s CPU
MIN_MEM_MB = 96  # the JVM's OK run peaks at 35 MB
MAX_MEM_MB = JAVA_MAX_HEAP_MB // 2  # the JVM heap cap must stay above every memory limit
MIN_PROCESSES = 32  # the JVM runs 13 threads with build.JAVA_RUN_FLAGS
MIN_OUTPUT_KB = 16  # the largest output of any program is a traceback of a few hundred bytes
MIN_KILL_WALL_S = 10.0  # time the pipeline has to kill the sleeper from outside
MLE_START_CPU_S = 0.2
MLE_CPU_S_PER_MB = 0.003
MLE_MARGIN = 2.0


@dataclass(frozen=True)
class Ranges:
    """Inclusive (low, high) ranges the generator draws each submission's limits from."""

    cpu_s: tuple[float, float] = (2.0, 4.0)
    wall_s: tuple[float, float] = (6.0, 12.0)
    kill_wall_s: tuple[float, float] = (30.0, 60.0)  # wall limit of the sleeper the pipeline kills
    mem_mb: tuple[int, int] = (128, 256)
    processes: tuple[int, int] = (32, 64)
    output_kb: tuple[int, int] = (64, 1024)

    def __post_init__(self) -> None:
        for f in fields(self):  # accept lists (from YAML or JSON); keep the dataclass hashable
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    def validate(self) -> Ranges:
        """Return self if every outcome holds under these ranges; else raise a one-line UsageError."""
        for f in fields(self):
            _check_pair(f.name, getattr(self, f.name), integer=f.name in _INTEGER_FIELDS)
        floors = (
            ("cpu_s", MIN_CPU_S, "OK programs must finish far below it"),
            ("mem_mb", MIN_MEM_MB, "a JVM needs 35 MB"),
            ("processes", MIN_PROCESSES, "a JVM runs 13 threads"),
            ("output_kb", MIN_OUTPUT_KB, "error messages must fit"),
            ("kill_wall_s", MIN_KILL_WALL_S, "the pipeline must kill the sleeper first"),
        )
        for name, floor, why in floors:
            if getattr(self, name)[0] < floor:
                raise UsageError(f"ranges: {name} low end must be at least {floor} ({why})")
        if self.mem_mb[1] > MAX_MEM_MB:
            raise UsageError(f"ranges: mem_mb high end must be at most {MAX_MEM_MB} (the JVM heap cap)")
        if self.wall_s[0] < self.cpu_s[1]:
            raise UsageError("ranges: wall_s low end must be at least cpu_s high end")
        mle_cpu = MLE_MARGIN * (MLE_START_CPU_S + MLE_CPU_S_PER_MB * self.mem_mb[1])
        if self.cpu_s[0] < mle_cpu:
            raise UsageError(
                f"ranges: cpu_s low end must be at least {mle_cpu:.2f} for mem_mb up to {self.mem_mb[1]}"
                " (the MLE program must reach the memory limit well before the CPU limit)"
            )
        return self

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping, base: Ranges | None = None) -> Ranges:
        """Ranges from a config mapping; keys left out keep `base`'s (default: DEFAULT_RANGES)."""
        if not isinstance(d, Mapping):
            raise UsageError("ranges: expected a mapping of name to [low, high]")
        known = [f.name for f in fields(cls)]
        for key in d:
            if key not in known:
                raise UsageError(f"ranges: unknown key {key!r} (choose from {', '.join(known)})")
        values = asdict(base or DEFAULT_RANGES)
        for key, pair in d.items():
            if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
                raise UsageError(f"ranges: {key} must be [low, high]")
            values[key] = tuple(pair)
        return cls(**values).validate()


_INTEGER_FIELDS = ("mem_mb", "processes", "output_kb")

DEFAULT_RANGES = Ranges()
# For the smoke profile: TLE runs end in under 2 s of CPU and 5 s of wall; every outcome still holds.
FAST_RANGES = Ranges(
    cpu_s=(1.25, 1.75),
    wall_s=(3.0, 5.0),
    kill_wall_s=(15.0, 20.0),
    mem_mb=(96, 128),
    processes=(32, 48),
    output_kb=(64, 256),
)
PRESETS = {"default": DEFAULT_RANGES, "fast": FAST_RANGES}


def ranges_preset(name: str) -> Ranges:
    """The preset called `name` ("default" or "fast")."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown ranges preset {name!r} (choose from {', '.join(PRESETS)})") from None


def _check_pair(name: str, pair: object, integer: bool) -> None:
    kind = "whole numbers" if integer else "numbers"
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise UsageError(f"ranges: {name} must be a (low, high) pair")
    for value in pair:
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            raise UsageError(f"ranges: {name} must be {kind}, got {value!r}")
    if not 0 < pair[0] <= pair[1]:
        raise UsageError(f"ranges: {name} must have 0 < low <= high, got {list(pair)}")


def check_mix(mix: Mapping) -> dict[str, float]:
    """The mix as {verdict: weight}, or a one-line UsageError."""
    if not isinstance(mix, Mapping) or not mix:
        raise UsageError("mix: expected outcome weights, e.g. OK=70,TLE=20,MLE=5,RE=5")
    for verdict, weight in mix.items():
        if verdict not in catalog.WORKLOAD_VERDICTS:
            choices = ", ".join(catalog.WORKLOAD_VERDICTS)
            raise UsageError(f"mix: unknown outcome {verdict!r} (choose from {choices})")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise UsageError(f"mix: weight of {verdict} must be a number, got {weight!r}")
        if weight < 0:
            raise UsageError(f"mix: weight of {verdict} must not be negative")
    if sum(mix.values()) <= 0:
        raise UsageError("mix: at least one weight must be positive")
    return {v: float(mix[v]) for v in catalog.WORKLOAD_VERDICTS if mix.get(v, 0) > 0}


def parse_mix(text: str) -> dict[str, float]:
    """'OK=70,TLE=20,MLE=5,RE=5' -> weights (for a command-line flag)."""
    mix: dict[str, float] = {}
    for item in text.split(","):
        verdict, sep, weight = item.strip().partition("=")
        try:
            mix[verdict.strip()] = float(weight)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(f"mix: expected OUTCOME=WEIGHT, got {item.strip()!r}")
    return check_mix(mix)


def _check_languages(languages: Sequence[str]) -> tuple[str, ...]:
    if isinstance(languages, str) or not isinstance(languages, Sequence) or not languages:
        raise UsageError(f"languages: expected a list drawn from {', '.join(LANGUAGES)}")
    for language in languages:
        if language not in LANGUAGES:
            raise UsageError(f"languages: unknown language {language!r} (choose from {', '.join(LANGUAGES)})")
    if len(set(languages)) != len(languages):
        raise UsageError("languages: each language may appear once")
    return tuple(languages)


def _check_seed_count(seed: object, count: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"seed must be a whole number, got {seed!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UsageError(f"count must be a whole number >= 0, got {count!r}")


def _apportion(mix: dict[str, float], seats: int) -> list[str]:
    """Largest-remainder seats per verdict; ties go to the earlier verdict (deterministic)."""
    total = sum(mix.values())
    exact = {v: w * seats / total for v, w in mix.items()}
    counts = {v: math.floor(x) for v, x in exact.items()}
    by_remainder = sorted(mix, key=lambda v: -(exact[v] - counts[v]))  # stable: keeps catalog order
    for v in by_remainder[: seats - sum(counts.values())]:
        counts[v] += 1
    return [v for v in mix for _ in range(counts[v])]


def _draw(rng: random.Random, pair: tuple[float, float], digits: int) -> float:
    return min(max(round(rng.uniform(*pair), digits), pair[0]), pair[1])


def draw_limits(rng: random.Random, ranges: Ranges, ending: str) -> Limits:
    return Limits(
        cpu_s=_draw(rng, ranges.cpu_s, 2),
        wall_s=_draw(rng, ranges.kill_wall_s if ending == "kill" else ranges.wall_s, 2),
        mem_mb=rng.randint(*ranges.mem_mb),
        processes=rng.randint(*ranges.processes),
        output_kb=rng.randint(*ranges.output_kb),
    )


def _submission(index: int, program: catalog.Program, limits: Limits) -> Submission:
    return Submission(index, program.id, program.language, program.expected, program.ending, limits)


def stream(
    seed: int,
    *,
    mix: Mapping[str, float] = DEFAULT_MIX,
    languages: Sequence[str] = LANGUAGES,
    ranges: Ranges = DEFAULT_RANGES,
) -> Iterator[Submission]:
    """Endless submissions for the stress stage: outcomes in `mix` proportions, languages uniform.

    Each block of BLOCK submissions holds the mix exactly (up to rounding), shuffled. Everything is
    drawn in order, so the first n items are generate(seed, n) whenever the stream is cut, and a run
    bounded by its duration replays from its seed. The sleeper (ending "kill") is never chosen here:
    nothing would kill it. Bad arguments raise at once, not at the first next().
    """
    _check_seed_count(seed, 0)
    weights = check_mix(mix)
    langs = _check_languages(languages)
    ranges.validate()
    candidates = {
        (language, verdict): tuple(p for p in catalog.pick(language, verdict) if p.ending != "kill")
        for language in langs
        for verdict in weights
    }
    return _stream(random.Random(seed), _apportion(weights, BLOCK), candidates, langs, ranges)


def _stream(
    rng: random.Random,
    block: list[str],
    candidates: dict[tuple[str, str], tuple[catalog.Program, ...]],
    langs: tuple[str, ...],
    ranges: Ranges,
) -> Iterator[Submission]:
    index = 0
    while True:
        verdicts = list(block)
        rng.shuffle(verdicts)
        for verdict in verdicts:
            program = rng.choice(candidates[(rng.choice(langs), verdict)])
            yield _submission(index, program, draw_limits(rng, ranges, program.ending))
            index += 1


def generate(
    seed: int,
    count: int,
    *,
    mix: Mapping[str, float] = DEFAULT_MIX,
    languages: Sequence[str] = LANGUAGES,
    ranges: Ranges = DEFAULT_RANGES,
) -> list[Submission]:
    """The first `count` submissions of stream(seed, ...)."""
    _check_seed_count(seed, count)
    return list(itertools.islice(stream(seed, mix=mix, languages=languages, ranges=ranges), count))


def generate_endings(
    seed: int,
    count: int,
    *,
    endings: Sequence[str] = ENDINGS,
    languages: Sequence[str] = LANGUAGES,
    ranges: Ranges = DEFAULT_RANGES,
) -> list[Submission]:
    """`count` submissions for the leak stage, cycling through endings, then languages.

    Every run of len(endings) * len(languages) submissions covers each (ending, language) pair once:
    normal -> an OK program, timeout -> a TLE program, crash -> an RE program, kill -> the sleeper.
    """
    _check_seed_count(seed, count)
    langs = _check_languages(languages)
    if isinstance(endings, str) or not endings or any(e not in ENDINGS for e in endings):
        raise UsageError(f"endings: expected a list drawn from {', '.join(ENDINGS)}")
    ranges.validate()
    rng = random.Random(seed)
    out: list[Submission] = []
    for index in range(count):
        ending = endings[index % len(endings)]
        language = langs[(index // len(endings)) % len(langs)]
        program = rng.choice(catalog.pick(language, ENDING_VERDICT[ending], ending))
        out.append(_submission(index, program, draw_limits(rng, ranges, ending)))
    return out


def digest(submissions: Sequence[Submission]) -> str:
    """sha256 of the list's canonical JSON: equal digests mean equal workloads."""
    text = json.dumps([s.to_dict() for s in submissions], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
