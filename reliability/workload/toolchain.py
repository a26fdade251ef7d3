"""Find the compilers and runtimes the workload needs, with their versions.

A missing or unusable tool is not an error here: the language gets a reason string, and its
submissions are reported as skipped with that reason, never as passed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field

from reliability.workload.submission import LANGUAGES

_VERSION_TIMEOUT_S = 60  # a JVM can start slowly on a loaded machine


@dataclass(frozen=True)
class Toolchain:
    language: str
    tools: dict[str, str] = field(default_factory=dict)  # tool name -> absolute path
    version: str = ""  # every tool's version, one "; "-separated line (part of the build cache key)
    missing: str = ""  # why the language cannot run here; "" when it can

    @property
    def available(self) -> bool:
        return not self.missing


def usable_by_others(path: str) -> bool:
    """Whether a user other than the owner can execute `path` (box programs run as an unprivileged uid).

    /root is usually private, so an interpreter found there (pyenv, a venv) works for root only.
    """
    real = os.path.realpath(path)
    try:
        mode = os.stat(real).st_mode
    except OSError:
        return False
    if not (mode & stat.S_IXOTH and mode & stat.S_IROTH):
        return False
    parent = os.path.dirname(real)
    while True:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        if parent == os.path.dirname(parent):
            return True
        parent = os.path.dirname(parent)


def _run(argv: list[str]) -> tuple[bool, str]:
    """(succeeded, combined output): javac and java print their version on stderr."""
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    out = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, out


def _version_of(argv: list[str], first_line_only: bool = False) -> tuple[str, str]:
    """(version on one line, reason it failed or '')."""
    ok, out = _run(argv)
    if not ok:
        first = out.splitlines()[0] if out else "no output"
        return "", f"`{' '.join(argv)}` failed: {first}"
    if first_line_only:
        out = out.splitlines()[0] if out else ""
    return " ".join(out.split()) or argv[0], ""


def _detect_cpp(path: str | None) -> Toolchain:
    gxx = shutil.which("g++", path=path)
    if gxx is None:
        return Toolchain("cpp", missing="g++ not found on PATH")
    gxx = os.path.abspath(gxx)
    version, why = _version_of([gxx, "--version"], first_line_only=True)  # the rest is the licence
    if why:
        return Toolchain("cpp", missing=why)
    return Toolchain("cpp", {"g++": gxx}, version)


def _detect_java(path: str | None) -> Toolchain:
    tools = {}
    for name in ("javac", "java"):
        found = shutil.which(name, path=path)
        if found is None:
            return Toolchain("java", missing=f"{name} not found on PATH (install a JDK)")
        tools[name] = os.path.abspath(found)
    if not usable_by_others(tools["java"]):
        return Toolchain("java", missing=f"java at {tools['java']} is not executable by an unprivileged user")
    versions = []
    for name in ("javac", "java"):
        version, why = _version_of([tools[name], "-version"])
        if why:
            return Toolchain("java", missing=why)
        versions.append(version)
    return Toolchain("java", tools, "; ".join(versions))


def _python_candidates(path: str | None) -> list[str]:
    """Every python3 on PATH, in PATH order: the first may be a shim or live under a private home."""
    search = os.environ.get("PATH", os.defpath) if path is None else path
    found = []
    for directory in search.split(os.pathsep):
        candidate = os.path.join(directory, "python3") if directory else ""
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            found.append(os.path.abspath(candidate))
    return found


def _detect_python(path: str | None) -> Toolchain:
    candidates = _python_candidates(path)
    if not candidates:
        return Toolchain("python", missing="python3 not found on PATH")
    rejected = []
    for candidate in candidates:
        # Ask the interpreter where it really is: a pyenv shim is a shell script, not the interpreter.
        ok, out = _run([candidate, "-c", "import sys; print(sys.executable); print(sys.version)"])
        lines = out.splitlines()
        if not ok or len(lines) < 2 or not os.path.isabs(lines[0]):
            rejected.append(f"{candidate} does not run")
            continue
        executable = lines[0]
        if not usable_by_others(executable):
            rejected.append(f"{executable} is not executable by an unprivileged user")
            continue
        return Toolchain("python", {"python3": executable}, "Python " + " ".join(" ".join(lines[1:]).split()))
    return Toolchain("python", missing="no usable python3 on PATH: " + "; ".join(dict.fromkeys(rejected)))


_DETECTORS = {"cpp": _detect_cpp, "java": _detect_java, "python": _detect_python}


def detect(language: str, path: str | None = None) -> Toolchain:
    """The toolchain for `language`, searched on `path` (default: this process's PATH)."""
    return _DETECTORS[language](path)


def detect_all(path: str | None = None) -> dict[str, Toolchain]:
    """Every language's toolchain, keyed by language, in LANGUAGES order."""
    return {language: detect(language, path) for language in LANGUAGES}
