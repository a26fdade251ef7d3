"""The programs a workload is made of: one source each, with the verdict a correct sandbox must give.

Every program's outcome holds for any limits the generator may pick (see generator.py for the ranges
and why): OK programs finish far below the smallest limits, TLE programs never finish, the MLE program
grows until the cgroup kills it, RE programs fail at once, and the sleeper waits to be killed from
outside (a SIGKILL from outside is a runtime error for a correct sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reliability.errors import UsageError
from reliability.workload.submission import ENDINGS, LANGUAGES

PROGRAMS_DIR = Path(__file__).resolve().parent / "programs"

# What a program does while it runs; the integration tests check each behaviour directly.
BEHAVIOURS = ("answer", "spin", "sleep", "allocate", "fail")

# The verdicts the catalog has programs for (OLE and IE are the sandbox's to produce, not a workload's).
WORKLOAD_VERDICTS = ("OK", "TLE", "MLE", "RE")


@dataclass(frozen=True)
class Program:
    id: str  # "<language>/<name>", e.g. "cpp/ok_sum"
    language: str  # one of LANGUAGES
    source: Path
    expected: str  # the verdict a correct sandbox gives
    ending: str  # one of ENDINGS; an MLE run is ended by the kernel, so it counts as a crash
    expected_stdout: str | None  # exact stdout an OK program prints; None for the others
    behaviour: str  # one of BEHAVIOURS

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]


def _source_file(language: str, stem: str) -> Path:
    if language == "java":  # a public class must live in a file named after it
        return PROGRAMS_DIR / "java" / ("".join(part.title() for part in stem.split("_")) + ".java")
    suffix = {"cpp": ".cpp", "python": ".py"}[language]
    return PROGRAMS_DIR / language / (stem + suffix)


# (name, source stem, expected verdict, ending, behaviour, expected stdout), the same in every language.
_COMMON = (
    ("ok_sum", "ok_sum", "OK", "normal", "answer", "163183\n"),
    ("ok_sieve", "ok_sieve", "OK", "normal", "answer", "78498\n"),
    ("tle_spin", "tle_spin", "TLE", "timeout", "spin", None),
    ("tle_sleep", "sleep_forever", "TLE", "timeout", "sleep", None),
    ("mle_alloc", "mle_alloc", "MLE", "crash", "allocate", None),
    ("sleeper", "sleep_forever", "RE", "kill", "sleep", None),
)

# Runtime errors as each language naturally has them.
_RUNTIME_ERRORS = {
    "cpp": ("re_segv", "re_abort", "re_exit"),
    "java": ("re_exception", "re_exit"),
    "python": ("re_exception", "re_exit"),
}


def _all_programs() -> tuple[Program, ...]:
    programs = []
    for language in LANGUAGES:
        rows = list(_COMMON)
        rows += [(name, name, "RE", "crash", "fail", None) for name in _RUNTIME_ERRORS[language]]
        for name, stem, expected, ending, behaviour, stdout in rows:
            programs.append(
                Program(
                    id=f"{language}/{name}",
                    language=language,
                    source=_source_file(language, stem),
                    expected=expected,
                    ending=ending,
                    expected_stdout=stdout,
                    behaviour=behaviour,
                )
            )
    return tuple(programs)


PROGRAMS: tuple[Program, ...] = _all_programs()

# Kept out of PROGRAMS, so the stress mix (and its pinned, seeded workloads) stay as they are: a NAP_S
# nap, then an answer. Wall-clock bound, so the concurrency stage can hold 100 runs in flight on 2 cores
# (in flight = rate x run time: 100 at ~20/s needs runs of ~5 s). No Java: 100 JVMs at once would
# measure the host's memory, not the sandbox.
NAP_S = 4.0  # the programs' own constant (programs/*/ok_nap.*)
NAP_PROGRAMS: tuple[Program, ...] = tuple(
    Program(
        f"{language}/ok_nap", language, _source_file(language, "ok_nap"), "OK", "normal", "napped\n", "answer"
    )
    for language in ("cpp", "python")
)
ALL_PROGRAMS: tuple[Program, ...] = PROGRAMS + NAP_PROGRAMS
_BY_ID = {p.id: p for p in ALL_PROGRAMS}


def get(program_id: str) -> Program:
    """The program with this id; an unknown id is the operator's mistake (e.g. a bad replay)."""
    try:
        return _BY_ID[program_id]
    except KeyError:
        raise UsageError(f"unknown program {program_id!r} (e.g. {PROGRAMS[0].id!r})") from None


def pick(
    language: str | None = None, expected: str | None = None, ending: str | None = None
) -> tuple[Program, ...]:
    """Programs matching every criterion given, in catalog order (stable, so seeded picks are too)."""
    if language is not None and language not in LANGUAGES:
        raise UsageError(f"unknown language {language!r} (choose from {', '.join(LANGUAGES)})")
    if ending is not None and ending not in ENDINGS:
        raise UsageError(f"unknown ending {ending!r} (choose from {', '.join(ENDINGS)})")
    return tuple(
        p
        for p in PROGRAMS
        if (language is None or p.language == language)
        and (expected is None or p.expected == expected)
        and (ending is None or p.ending == ending)
    )
