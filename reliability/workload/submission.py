"""A submission: one program to run under one set of limits, with the outcome it must get."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from reliability.sandbox_values import Limits

LANGUAGES = ("cpp", "java", "python")

# How a run ends (QA-REL-001 section 6): the program finishes, runs out of time, crashes, or is
# killed from outside by the pipeline while it runs.
ENDINGS = ("normal", "timeout", "crash", "kill")

# Before submissions carried their case, a stage's case was the second part of a made-up program id
# ("crash/setup"); histories of that time are still read with the case taken from there.
_LEGACY_CASE_PREFIXES = ("crash/", "faults/", "state/", "exhaustion/", "hostile/")


@dataclass(frozen=True)
class Submission:
    index: int  # position in the workload; with the seed it identifies the submission
    program: str  # catalog id, e.g. "cpp/tle_spin", or a stage's own program, e.g. "exhaustion/fill_box"
    language: str  # one of LANGUAGES
    expected: str  # the verdict a correct sandbox gives, one of sandbox_values.VERDICTS
    ending: str  # one of ENDINGS
    limits: Limits
    box: int = 0  # filled in by the runner when a worker takes it
    case: str = ""  # the stage's case this execution is (its fault, its hostile attempt); "" for none

    @property
    def label(self) -> str:
        """How a report names what ran: the program, and the case when there is one."""
        return f"{self.program} case {self.case}" if self.case else self.program

    def to_dict(self) -> dict:
        d = asdict(self)
        d["limits"] = self.limits.to_dict()
        if not self.case:
            del d["case"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Submission:
        return cls(
            index=d["index"],
            program=d["program"],
            language=d["language"],
            expected=d["expected"],
            ending=d["ending"],
            limits=Limits.from_dict(d["limits"]),
            box=d.get("box", 0),
            case=d.get("case", _legacy_case(d["program"])),
        )


def _legacy_case(program: str) -> str:
    if program.startswith(_LEGACY_CASE_PREFIXES):
        return program.split("/", 1)[1]
    return ""
