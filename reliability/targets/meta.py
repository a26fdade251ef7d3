"""isolate's meta file (`--meta=FILE`): `key:value` lines -> a Result.

Facts (isolate 1.x and 2.x): status RE (non-zero exit), SG (killed by a signal), TO (time limit; the
message says CPU or wall), XX (isolate's internal error); no status line means the program ended well.
isolate has no memory status: a cgroup OOM kill is `status:SG exitsig:9 cg-oom-killed:1`, which is MLE.
A file-size kill is SIGXFSZ, which is OLE. A missing binary is `status:RE exitcode:127` (RE, not XX).
"""

from __future__ import annotations

import signal

from reliability.targets.base import Result

FLOAT_KEYS = ("time", "time-wall")
INT_KEYS = (
    "max-rss",
    "cg-mem",
    "cg-oom-killed",
    "exitcode",
    "exitsig",
    "killed",
    "csw-voluntary",
    "csw-forced",
)
STATUSES = ("RE", "SG", "TO", "XX")


class MetaError(ValueError):
    """The text is not a meta file isolate could have written."""


def parse_meta(text: str) -> dict[str, str | int | float]:
    """The meta file's keys with numbers converted; raise MetaError on anything malformed."""
    meta: dict[str, str | int | float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key:
            raise MetaError(f"line {number}: {line!r} is not key:value")
        try:
            if key in FLOAT_KEYS:
                meta[key] = float(value)
            elif key in INT_KEYS:
                meta[key] = int(value)
            else:
                meta[key] = value
        except ValueError:
            raise MetaError(f"line {number}: {key} wants a number, got {value!r}") from None
    if not meta:
        raise MetaError("empty meta file (isolate ended before writing it)")
    status = meta.get("status")
    if status is not None and status not in STATUSES:
        raise MetaError(f"unknown status {status!r} (isolate writes {', '.join(STATUSES)} or none)")
    return meta


def meta_verdict(meta: dict) -> tuple[str, str]:
    """(verdict, why) for a parsed meta file."""
    status = meta.get("status")
    message = str(meta.get("message", ""))
    if status is None:
        if meta.get("exitcode", 0) != 0:  # no status yet a failing exit: trust the exit code
            return "RE", message or f"exit code {meta['exitcode']}"
        return "OK", message
    if status == "TO":
        return "TLE", message or "time limit exceeded"
    if status == "XX":
        return "IE", message or "isolate internal error"
    if status == "SG":
        if meta.get("cg-oom-killed"):
            return "MLE", message or "killed by the cgroup OOM killer"
        if meta.get("exitsig") == signal.SIGXFSZ:
            return "OLE", message or "file size limit exceeded"
        return "RE", message
    return "RE", message  # status RE: the program exited non-zero


def meta_result(text: str) -> Result:
    """The Result a meta file describes; raise MetaError when it cannot be read."""
    meta = parse_meta(text)
    verdict, message = meta_verdict(meta)
    cpu = float(meta.get("time", 0.0))
    wall = float(meta.get("time-wall", 0.0))
    # cg-mem covers every process of the run; max-rss only the largest one (absent cg-mem: no --cg).
    peak = int(meta.get("cg-mem", meta.get("max-rss", 0)))
    signo = meta.get("exitsig")
    exit_code = meta.get("exitcode")
    if exit_code is None and signo is None and verdict == "OK":
        exit_code = 0
    return Result(
        verdict=verdict,
        cpu_s=cpu,
        wall_s=wall,
        peak_mem_kb=peak,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        signal=signo if isinstance(signo, int) else None,
        message=message,
        raw={"meta": meta},
    )
