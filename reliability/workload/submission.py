"""A submission: one program to run under one set of limits, with the outcome it must get."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from reliability.sandbox_values import Limits

LANGUAGES = ("cpp", "java", "python")

# How a run ends (QA-REL-001 section 6): the program finishes, runs out of time, crashes, or is
# killed from outside by the pipeline while it runs.
ENDINGS = ("normal", "timeout", "crash", "kill")


@dataclass(frozen=True)
class Submission:
    index: int  # position in the workload; with the seed it identifies the submission
    program: str  # catalog id, e.g. "cpp/tle_spin"
    language: str  # one of LANGUAGES
    expected: str  # the verdict a correct sandbox gives, one of sandbox_values.VERDICTS
    ending: str  # one of ENDINGS
    limits: Limits
    box: int = 0  # filled in by the runner when a worker takes it

    def to_dict(self) -> dict:
        d = asdict(self)
        d["limits"] = self.limits.to_dict()
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
        )
