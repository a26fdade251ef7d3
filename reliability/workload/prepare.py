"""Turn catalog programs into what the runner needs: a built command and files, or a reason to skip."""

from __future__ import annotations

from collections.abc import Iterable

from reliability.runner import Prepared
from reliability.workload import catalog
from reliability.workload.build import Builder, BuildError


def prepare_programs(program_ids: Iterable[str] | None = None) -> dict[str, Prepared | str]:
    """Build the programs (all of the catalog by default), each distinct source once, through the cache.

    A language without a toolchain, or a program that does not compile, maps to the reason: its
    submissions are then recorded as skipped with that reason, never as passed.
    """
    programs = [catalog.get(p) for p in program_ids] if program_ids is not None else list(catalog.PROGRAMS)
    builder = Builder()
    try:
        built, skipped = builder.build_all(programs)
    except BuildError:
        # One program failing to compile must not hide the others: build them one by one.
        built, skipped = {}, {}
        for program in programs:
            try:
                built[program.id] = builder.build(program)
            except BuildError as err:
                skipped[program.id] = getattr(err, "reason", None) or f"build failed: {err}"
    prepared: dict[str, Prepared | str] = dict(skipped)
    for program in programs:
        if program.id in built:
            b = built[program.id]
            prepared[program.id] = Prepared(b.command, b.files, program.expected_stdout)
    return prepared
