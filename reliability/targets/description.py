"""A target file (YAML, docs/targets.md): read it, validate it, fill in its options.

Validation is in two parts: the JSON Schema (schemas/target.schema.json) for the shape, then the
placeholders of every template, since a schema cannot know which ones each template may use. Every
error names the path of the bad key, e.g. `commands/run/4: unknown placeholder {mem}`.
"""

from __future__ import annotations

import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from reliability import schemas
from reliability.errors import UsageError

# Placeholders by where a template is used; options (the file's `options:` keys) are valid everywhere.
BOX = {"box", "box_root", "box_dir", "work_dir"}
RUN = BOX | {
    "cpu_s",
    "wall_s",
    "mem_mb",
    "mem_kb",
    "mem_bytes",
    "processes",
    "output_kb",
    "meta",
    "command_line",
}
LIST_ELEMENTS = ("{command}", "{files}")  # whole list elements of the run command that expand to lists
ALLOWED = {
    "commands/version": set(),
    "commands/init": BOX,
    "commands/run": RUN,
    "commands/cleanup": BOX,
    "commands/recover": BOX,
    "commands/recover_all": {"box_root"},
    "commands/start": {"box_root"},
    "commands/stop": {"box_root"},
    "files/copy_to": BOX | {"name"},
    "files/option": BOX | {"src", "name"},
    "result/file": BOX | {"meta"},
    "result/stdout_file": BOX | {"meta"},
    "owns/box_root": set(),
    "owns/box_dir": {"box", "box_root"},
    "owns/work_dir": {"box", "box_root", "box_dir"},
    "owns/cgroup_roots": {"box_root"},
    "owns/box_cgroups": {"box", "box_root"},
    "owns/temp_roots": {"box_root"},
    "owns/state_files": {"box_root", "box"},  # {box}: one file per box (`*` in the probes' globs)
    "owns/lock_files": {"box_root", "box"},
}


@dataclass
class Description:
    """A validated target file with its options filled in."""

    doc: dict
    source: str  # the file it came from, for messages
    options: dict[str, str]

    @property
    def name(self) -> str:
        return self.doc["name"]

    def values(self, **more) -> dict:
        """Placeholder values: the options, the box root, then `more`."""
        vals: dict = dict(self.options)
        vals["box_root"] = render(self.doc["owns"]["box_root"], self.options)
        vals.update(more)
        return vals


def render(template: str, values: dict) -> str:
    return template.format_map(values)


def read(path: str | Path) -> dict:
    """The YAML document at `path`; a missing or unreadable file is a UsageError."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise UsageError(f"target file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"target file {path}: not text (UTF-8 YAML expected)") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"target file {path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    return doc


def problems(doc) -> list[str]:
    """Every way `doc` breaks the format, each as 'path: what was expected'."""
    found = schemas.errors("target", doc)
    if found:
        return found
    options = set(doc.get("options", {}))
    for where, allowed in ALLOWED.items():
        section, key = where.split("/")
        value = doc.get(section, {}).get(key)
        if value is None:
            continue
        if isinstance(value, str):
            items = [(where, value)]
        else:
            items = [
                (f"{where}/{i}", v.get("glob", "") if isinstance(v, dict) else v) for i, v in enumerate(value)
            ]
        for path, template in items:
            if where == "commands/run" and template in LIST_ELEMENTS:
                continue
            found += _placeholder_problems(path, template, allowed | options)
    found += _consistency_problems(doc)
    return found


def _placeholder_problems(path: str, template: str, allowed: set[str]) -> list[str]:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        return [f"{path}: {e} (write a literal brace as {{{{ or }}}})"]
    out = []
    for field in fields:
        if field not in allowed:
            known = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            out.append(f"{path}: unknown placeholder {{{field}}} (allowed here: {known})")
    return out


def _consistency_problems(doc: dict) -> list[str]:
    out = []
    run = doc["commands"]["run"]
    if "{command}" not in run and not any("{command_line}" in a for a in run):
        out.append("commands/run: needs an element '{command}' (or {command_line}) for the program")
    if "option" in doc["files"] and "{files}" not in run:
        out.append("commands/run: files/option is used, so run needs an element '{files}'")
    if doc["result"]["format"] == "isolate_meta" and not any("{meta}" in a for a in run):
        out.append("commands/run: result/format isolate_meta needs {meta} in the run command")
    for key in ("state_files", "lock_files"):
        for i, entry in enumerate(doc.get("owns", {}).get(key, [])):
            name = entry.get("schema")
            if name and not (schemas.SCHEMA_DIR / f"{name}.schema.json").is_file():
                out.append(f"owns/{key}/{i}/schema: no schema {name} (schemas/{name}.schema.json)")
    return out


def validate(doc, source: str) -> None:
    """Raise UsageError naming the first problem (and how many more) if `doc` is not a valid target."""
    found = problems(doc)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UsageError(f"target file {source}: {found[0]}{more}")


def describe(doc: dict, source: str, overrides: dict[str, str] | None = None) -> Description:
    """Validate `doc` and fill in its options from `overrides` (--target-option KEY=VALUE)."""
    validate(doc, source)
    declared = {k: str(v) for k, v in doc.get("options", {}).items()}
    unknown = set(overrides or {}) - set(declared)
    if unknown:
        raise UsageError(
            f"unknown option(s) for target {doc['name']}: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(declared)) or 'none'})"
        )
    return Description(doc, source, {**declared, **(overrides or {})})


def missing_programs(desc: Description) -> list[str]:
    """The commands' programs (first words) that are not on PATH or not executable, with where."""
    out = []
    for key, argv in desc.doc["commands"].items():
        if not isinstance(argv, list):
            continue
        program = argv[0].format_map(_Keep(desc.values()))
        found = os.access(program, os.X_OK) if os.sep in program else shutil.which(program)
        if not found and program not in [p.split(" ", 1)[0] for p in out]:
            out.append(f"{program} (commands/{key})")
    return out


class _Keep(dict):
    """Leaves placeholders without a value as they are (a program path rarely has any)."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
