"""Leaks: what diff() found, as human-readable strings per kind of resource."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from reliability.errors import UsageError

LEAK_KINDS = ("processes", "zombies", "mounts", "cgroups", "fds", "temp_dirs")


@dataclass
class Leaks:
    processes: list[str] = field(default_factory=list)
    zombies: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    fds: list[str] = field(default_factory=list)
    temp_dirs: list[str] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)  # changed, but not the sandbox's: "<item>: <rule>"

    def total(self) -> int:
        """Number of leaked items (noise excluded)."""
        return sum(len(getattr(self, kind)) for kind in LEAK_KINDS)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Leaks:
        if not isinstance(d, dict):
            raise UsageError(f"leaks must be an object, not {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise UsageError(f"leaks: unknown field {unknown[0]!r}")
        for name in names:
            value = d.get(name, [])
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise UsageError(f"leaks: {name} must be a list of strings")
        return cls(**{name: list(d.get(name, [])) for name in names})
