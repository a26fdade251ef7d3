"""Targets by name: the sandboxes the pipeline can drive through the contract in base.py."""

from __future__ import annotations

from reliability.errors import UsageError
from reliability.targets.base import Target

TARGETS = ("builtin", "isolate", "rustbox")  # or a path to a target file (docs/targets.md)


def load(name: str, options: dict[str, str] | None = None) -> Target:
    """The target called `name`, configured with `options` (from --target-option KEY=VALUE).

    The target remembers both as `loaded_as`, so a helper process can make the same target again
    (the locks stage's lock holder, reliability/nemesis/lock_holder.py)."""
    target = _load(name, dict(options or {}))
    target.loaded_as = (name, dict(options or {}))  # type: ignore[attr-defined]
    return target


def _load(name: str, options: dict) -> Target:
    if name == "builtin":
        from reliability.targets.builtin import BuiltinTarget

        known = {"box_root", "cgroup_name", "quota_mb", "time_scale"}
        unknown = set(options) - known
        if unknown:
            raise UsageError(
                f"unknown option(s) for target builtin: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(known))})"
            )
        from reliability.refbox.names import check_box_root, check_cgroup_name

        if "box_root" in options:
            check_box_root(options["box_root"], "--target-option box_root")
        if "cgroup_name" in options:
            check_cgroup_name(options["cgroup_name"], "--target-option cgroup_name")
        if "quota_mb" in options:
            try:
                options["quota_mb"] = int(options["quota_mb"])
            except ValueError:
                raise UsageError(
                    f"quota_mb must be a whole number of MiB, got {options['quota_mb']!r}"
                ) from None
        if "time_scale" in options:
            options["time_scale"] = _time_scale(options["time_scale"])
        return BuiltinTarget(**options)
    if name in ("isolate", "rustbox") or name.endswith((".yml", ".yaml")) or "/" in name:
        from reliability.targets.described import load_described

        return load_described(name, options)
    raise UsageError(f"unknown target {name!r} (choose from {', '.join(TARGETS)}, or a target file .yml)")


def _time_scale(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not 1.0 <= scale <= 1000.0:
        raise UsageError(f"time_scale must be a number from 1 to 1000, got {text!r}")
    return scale
