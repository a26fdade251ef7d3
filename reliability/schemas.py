"""Load and apply the JSON Schemas of the repository's schemas/ folder.

From a checkout (or an editable install) they are read in place; a wheel installs the same files under
<prefix>/share/reliability/schemas (pyproject.toml's data-files), so a fleet host has them too.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import jsonschema

_CHECKOUT = Path(__file__).resolve().parent.parent / "schemas"
_INSTALLED = Path(sys.prefix) / "share" / "reliability" / "schemas"
SCHEMA_DIR = _CHECKOUT if _CHECKOUT.is_dir() else _INSTALLED


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """Validator for schemas/<name>.schema.json (cached: schemas do not change during a run)."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(name: str, document) -> list[str]:
    """Every way `document` breaks schema `name`, each as 'path: message' ('' is the top)."""
    out = []
    for err in sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where or '(top)'}: {err.message}")
    return out
