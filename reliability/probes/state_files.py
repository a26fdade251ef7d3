"""The target's state files (Owned.state_files globs) read as a crashed or corrupted sandbox left them.

Read-only: unlike the refbox's own reader, nothing is moved aside or quarantined, so a check can say
what a crash left before the target's recover runs. Each file is judged by the rule its target gives
its glob (Owned.file_rules: the schema it must follow and how it is laid out), so a described sandbox's
lock is held to its own schema, never to the refbox's. A file without a rule is judged by its name: a
*.jsonl must be one JSON document per line, any other *.json must parse.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os

from reliability import schemas
from reliability.sandbox_values import Owned


def problems(owned: Owned, paths: list[str] | None = None) -> list[str]:
    """One line per damaged file, "<path>: <why>": of `paths`, or of every file the globs find."""
    found = paths if paths is not None else {p for pattern in owned.state_files for p in glob.glob(pattern)}
    out: list[str] = []
    for path in sorted(found):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            out.append(f"{path}: unreadable: {e.strerror}")
            continue
        why = _why_bad(data, *_rule(owned, path))
        if why:
            out.append(f"{path}: {why}")
    return out


def _rule(owned: Owned, path: str) -> tuple[str, str | None]:
    """(format, schema) of the file at `path`: its glob's rule, else what its name says."""
    for pattern, rule in owned.file_rules.items():
        if fnmatch.fnmatchcase(path, pattern):
            return rule.get("format") or _format_by_name(path), rule.get("schema")
    return _format_by_name(path), None


def _format_by_name(path: str) -> str:
    name = os.path.basename(path)
    return "jsonl" if name.endswith(".jsonl") else "json" if name.endswith(".json") else ""


def _why_bad(data: bytes, fmt: str, schema: str | None) -> str:
    """ "" if `data` is a good file of format `fmt` ("json": one document; "json_line": one line while
    held, empty once released, as a lock; "jsonl": one document per line; "": not judged) whose
    documents follow `schema`; else why not."""
    if fmt == "json_line" and not data.strip():
        return ""  # a released lock
    try:
        if fmt == "json":
            docs = [json.loads(data)]
        elif fmt == "json_line":
            if len(data.strip().splitlines()) != 1:
                return f"not valid ({len(data.strip().splitlines())} lines, one expected)"
            docs = [json.loads(data)]
        elif fmt == "jsonl":
            docs = [json.loads(line) for line in data.splitlines() if line.strip()]
        else:
            return ""
    except ValueError as e:
        return f"not valid ({'empty' if not data.strip() else e})"
    for doc in docs if schema else []:
        bad = schemas.problems(schema, doc)
        if bad:
            return f"schema-invalid ({schema}): {bad[0]}"
    return ""
