"""Turn what a described target's run command left (exit status, stdout, a result file) into a Result.

Three formats (result/format in the target file): `json` (a JSON object, fields mapped by name, statuses
mapped to verdicts), `isolate_meta` (isolate's meta file, see meta.py) and `exit_status` (no report at
all: the exit code and signal of the run command are the program's). Anything that cannot be read
raises ResultError; the caller turns it into IE and keeps the raw output as evidence.
"""

from __future__ import annotations

import json
import signal as signals

from reliability.targets.base import VERDICTS, Result
from reliability.targets.meta import MetaError, meta_result

TIME_SCALE = {"s": 1.0, "ms": 0.001}
MEMORY_TO_KB = {"bytes": 1 / 1024, "kb": 1.0, "mb": 1024.0}


class ResultError(ValueError):
    """The run command's output is not a result in the declared format."""


def parse(spec: dict, exit_code: int, text: str) -> Result:
    """The Result in `text` (stdout or the result file) by the target file's `result:` section `spec`."""
    fmt = spec["format"]
    if fmt == "exit_status":
        return exit_status_result(exit_code)
    if fmt == "isolate_meta":
        try:
            return meta_result(text)
        except MetaError as e:
            raise ResultError(f"isolate meta file: {e}") from None
    return json_result(spec, text)


def exit_status_result(exit_code: int) -> Result:
    """A negative code is a signal (subprocess convention); 128+N is a shell's way of saying signal N."""
    if exit_code == 0:
        return Result(verdict="OK", exit_code=0)
    if exit_code < 0:
        return Result(verdict="RE", signal=-exit_code, message=_signal_name(-exit_code))
    if 128 < exit_code < 128 + 65:
        return Result(
            verdict="RE", exit_code=exit_code, signal=exit_code - 128, message=_signal_name(exit_code - 128)
        )
    return Result(verdict="RE", exit_code=exit_code, message=f"exit code {exit_code}")


def json_result(spec: dict, text: str) -> Result:
    try:
        doc = json.loads(_last_json_line(text))
    except ValueError as e:
        raise ResultError(f"not a JSON object: {e}") from None
    if not isinstance(doc, dict):
        raise ResultError(f"not a JSON object: got {type(doc).__name__}")
    fields = spec["fields"]
    status = _field(doc, fields["verdict"])
    if not isinstance(status, str) or status not in spec["statuses"]:
        known = ", ".join(sorted(spec["statuses"]))
        raise ResultError(
            f"status {status!r} at {fields['verdict']!r} is not one of the mapped statuses ({known})"
        )
    verdict = spec["statuses"][status]
    assert verdict in VERDICTS  # the schema allows nothing else
    time_scale = TIME_SCALE[spec.get("time_unit", "s")]
    mem_scale = MEMORY_TO_KB[spec.get("memory_unit", "kb")]
    return Result(
        verdict=verdict,
        cpu_s=_number(doc, fields, "cpu_s") * time_scale,
        wall_s=_number(doc, fields, "wall_s") * time_scale,
        peak_mem_kb=int(_number(doc, fields, "peak_mem") * mem_scale),
        exit_code=_optional_int(doc, fields, "exit_code"),
        signal=_optional_int(doc, fields, "signal"),
        message=str(_field(doc, fields["message"]) or "") if "message" in fields else "",
        stdout=str(_field(doc, fields["stdout"]) or "")[:4096] if "stdout" in fields else "",
        raw={"document": doc, "status": status},
    )


def _last_json_line(text: str) -> str:
    """A sandbox may log before its result: take the last non-empty line when the whole is not JSON."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}") and "\n{" not in stripped:
        return stripped
    lines = [line for line in stripped.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _field(doc: dict, path: str):
    """doc['a']['b'] for path 'a.b'; None when any part is missing."""
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _number(doc: dict, fields: dict, name: str) -> float:
    if name not in fields:
        return 0.0
    value = _field(doc, fields[name])
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultError(f"{fields[name]!r} wants a number, got {value!r}")
    return float(value)


def _optional_int(doc: dict, fields: dict, name: str) -> int | None:
    if name not in fields:
        return None
    value = _field(doc, fields[name])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResultError(f"{fields[name]!r} wants a whole number or null, got {value!r}")
    return value


def _signal_name(signo: int) -> str:
    try:
        return f"killed by {signals.Signals(signo).name}"
    except ValueError:
        return f"killed by signal {signo}"
