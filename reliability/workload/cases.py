"""Case lists that both the nemesis and the checks name.

The nemesis injects each case; a check counts which were measured. A check may not import the nemesis
(pyproject.toml's import contracts), so the list lives here, with the rest of what a stage runs.
"""

from __future__ import annotations

# The ways the state stage damages an idle box's state file (nemesis/corrupt_state.py does each).
STATE_DAMAGE = ("corrupt_json", "partial_write", "missing_file", "wrong_enum", "missing_key")
