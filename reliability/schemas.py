"""Load and apply the JSON Schemas of the repository's schemas/ folder.

Two engines, each for what it is good at: fastjsonschema compiles a schema to Python once and answers
"valid?" in microseconds (a 10,000-run history has 30,000 records, and every refbox state read is
validated); jsonschema words the rejection, so the messages are the ones operators already know. A
record is invalid only if jsonschema, the reference, also finds an error.

From a checkout (or an editable install) they are read in place; a wheel installs the same files under
<prefix>/share/reliability/schemas (pyproject.toml's data-files), so a fleet host has them too.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import fastjsonschema

if TYPE_CHECKING:
    import jsonschema

_CHECKOUT = Path(__file__).resolve().parent.parent / "schemas"
_INSTALLED = Path(sys.prefix) / "share" / "reliability" / "schemas"
SCHEMA_DIR = _CHECKOUT if _CHECKOUT.is_dir() else _INSTALLED


@functools.cache
def schema_of(name: str) -> dict:
    """schemas/<name>.schema.json (cached: schemas do not change during a run)."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """jsonschema's validator for schema `name`, the schema checked against its meta-schema first."""
    # Imported here, to word a rejection: its import alone costs ~80 ms, which every `reliability box`
    # call (three per execution behind a CLI sandbox script) would pay for valid state files.
    import jsonschema

    schema = schema_of(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


# fastjsonschema implements draft-07 and ignores a keyword it does not know: a schema using a newer one
# (prefixItems, unevaluatedProperties, ...) is refused at compile time rather than half-checked.
DRAFT_07 = frozenset(
    "$schema $id $ref $comment $defs definitions title description default examples type enum const"
    " properties required additionalProperties patternProperties propertyNames minProperties"
    " maxProperties items contains minItems maxItems uniqueItems minimum maximum exclusiveMinimum"
    " exclusiveMaximum multipleOf minLength maxLength pattern format allOf anyOf oneOf not if then"
    " else dependencies".split()
)
_NAMED = ("properties", "patternProperties", "$defs", "definitions")  # their keys are names, not keywords


@functools.cache
def _compiled(name: str) -> Callable[[object], object]:
    schema = schema_of(name)
    unknown = sorted(set(_keywords(schema)) - DRAFT_07)
    if unknown:
        raise ValueError(f"schema {name}: {', '.join(unknown)} unknown to fastjsonschema (draft-07)")
    return _by_tag(schema) or _compile(schema)


def _compile(schema: dict) -> Callable[[object], object]:
    # use_formats=False: jsonschema checks no "format" either unless asked, and the two must agree.
    return fastjsonschema.compile(schema, use_formats=False)


def _by_tag(schema: dict) -> Callable[[object], object] | None:
    """A schema whose allOf is all `if {tag: const V} then T` (the history's one branch per event
    type), compiled as one schema per tag value: fastjsonschema would otherwise try every `if` of every
    record, each failed condition an exception, and read a history twice as slowly as this. A record
    without the tag, or with a non-string one, meets the whole schema, as JSON Schema says."""
    branches = schema.get("allOf")
    if not branches or any(set(b) != {"if", "then"} or len(b["if"]) != 1 for b in branches):
        return None
    conditions = [b["if"].get("properties", {}) for b in branches]
    tags = {next(iter(c)) for c in conditions if len(c) == 1}
    if len(tags) != 1 or any(set(next(iter(c.values()), {})) != {"const"} for c in conditions):
        return None
    (tag,) = tags
    values = [c[tag]["const"] for c in conditions]
    if not all(isinstance(v, str) for v in values):
        return None
    rest = {k: v for k, v in schema.items() if k != "allOf"}
    per_tag = {v: _compile({**rest, "allOf": [b["then"]]}) for v, b in zip(values, branches)}
    untagged, whole = _compile(rest), _compile(schema)

    def validate(document: object) -> object:
        if isinstance(document, dict) and isinstance(document.get(tag), str):
            return per_tag.get(document[tag], untagged)(document)
        return whole(document)

    return validate


def _keywords(node, names: bool = False):
    if isinstance(node, list):
        for item in node:
            yield from _keywords(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if not names:
                yield key
            yield from _keywords(value, names=not names and key in _NAMED)


def problems(name: str, document) -> list[str]:
    """[] when `document` is valid under schema `name`, else jsonschema's errors (see errors())."""
    try:
        _compiled(name)(document)
        return []
    except fastjsonschema.JsonSchemaValueException:
        return errors(name, document)


def errors(name: str, document) -> list[str]:
    """Every way `document` breaks schema `name`, each as 'path: message' ('' is the top)."""
    out = []
    for err in sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where or '(top)'}: {err.message}")
    return out
