"""Compile each distinct program once, into a cache shared by every run and every process.

A cache entry is a directory named by sha256(source, language, toolchain version, flags). It is built
in a private temporary directory and renamed into place, so a reader sees a complete entry or none,
and two processes building the same program at once both end up with the same, whole entry.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reliability.build_cache import CACHE_ENV, DEFAULT_CACHE_DIR, cache_dir_default  # noqa: F401 - re-exported
from reliability.workload.catalog import Program
from reliability.workload.toolchain import Toolchain, detect_all

_FORMAT = "1"  # bump when the layout of a cache entry changes
_MANIFEST = "manifest.json"
_COMPILE_TIMEOUT_S = 300
_STALE_WORK_S = 2 * _COMPILE_TIMEOUT_S  # no live build is older than its compile timeout

CXX_FLAGS = ("-O2", "-std=c++17", "-pipe")  # not -static: many distributions ship no static libc
JAVAC_FLAGS = ("-encoding", "UTF-8", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1")

# The largest Java heap. It lies above every memory limit the generator allows (MAX_MEM_MB there), so
# the cgroup, not an OutOfMemoryError, ends the MLE program; -Xmx only reserves address space.
JAVA_MAX_HEAP_MB = 2048

# Keep the JVM to 13 threads (the pids limit counts threads) and few CPU seconds (the sandbox counts
# CPU of every thread): one GC thread, one C1 compiler thread, no tiered C2. No hsperfdata file in /tmp
# and no attach socket: a run killed from outside would leave them behind as temp-dir leaks.
JAVA_RUN_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:ActiveProcessorCount=1",
    "-XX:TieredStopAtLevel=1",
    "-XX:CICompilerCount=1",
    "-XX:ReservedCodeCacheSize=32m",
    "-XX:-UsePerfData",
    "-XX:+DisableAttachMechanism",
    "-Xss8m",
    "-Xms8m",
    f"-Xmx{JAVA_MAX_HEAP_MB}m",
)
# -I: ignore PYTHON* variables and user site; -S: no site module (faster start, reads nothing else).
PYTHON_RUN_FLAGS = ("-I", "-S")


class BuildError(Exception):
    """A program could not be compiled; the message names the program and the compiler's complaint."""


class ToolchainMissing(BuildError):
    """The program's language has no usable toolchain here: its submissions are skipped, not failed."""

    def __init__(self, program: Program, reason: str):
        super().__init__(f"{program.id}: skipped: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Built:
    program: str  # catalog id
    command: list[str]  # run with cwd = the box; refers to files by their names in the box
    files: dict[str, str]  # host path -> name in the box
    key: str  # the cache key


class Builder:
    """Builds programs through the cache. Thread-safe; `compiles` counts real compilations."""

    def __init__(self, cache_dir: str | Path | None = None, toolchains: dict[str, Toolchain] | None = None):
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else cache_dir_default()
        self.toolchains = toolchains if toolchains is not None else detect_all()
        self.compiles = 0
        self._lock = threading.Lock()

    def key(self, program: Program, source: bytes | None = None) -> str:
        toolchain = self._toolchain(program)
        digest = hashlib.sha256()
        for part in (
            _FORMAT,
            program.language,
            toolchain.version,
            " ".join(_compile_flags(program.language)),
        ):
            digest.update(part.encode() + b"\0")
        digest.update(_read_source(program) if source is None else source)
        return digest.hexdigest()

    def build(self, program: Program) -> Built:
        source = _read_source(program)  # read once: the key and the compiled code must agree
        key = self.key(program, source)
        entry = self.cache_dir / key
        names = _read_manifest(entry)
        if names is None:
            names = self._compile_into_cache(program, source, entry)
        files = {str(entry / name): name for name in names}
        return Built(program.id, _run_command(program, self._toolchain(program), names), files, key)

    def build_all(
        self, programs: Iterable[Program], jobs: int = 2
    ) -> tuple[dict[str, Built], dict[str, str]]:
        """Build every program, `jobs` compilers at a time, each distinct source once.

        Returns (built by program id, skip reason by program id for languages without a toolchain).
        """
        built: dict[str, Built] = {}
        skipped: dict[str, str] = {}
        by_key: dict[str, list[Program]] = {}
        for program in programs:
            try:
                by_key.setdefault(self.key(program), []).append(program)
            except ToolchainMissing as exc:
                skipped[program.id] = exc.reason
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            firsts = list(pool.map(self.build, [group[0] for group in by_key.values()]))
        for first, group in zip(firsts, by_key.values()):
            built[first.program] = first
            built.update({p.id: self.build(p) for p in group[1:]})  # cache hits now
        return built, skipped

    def _toolchain(self, program: Program) -> Toolchain:
        toolchain = self.toolchains.get(program.language)
        if toolchain is None or not toolchain.available:
            reason = toolchain.missing if toolchain else f"no toolchain for {program.language}"
            raise ToolchainMissing(program, reason)
        return toolchain

    def _compile_into_cache(self, program: Program, source: bytes, entry: Path) -> list[str]:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            _sweep_stale(self.cache_dir)
            work = Path(tempfile.mkdtemp(prefix=".build-", dir=self.cache_dir))
        except OSError as exc:
            raise BuildError(f"{program.id}: build cache {self.cache_dir}: {exc.strerror}") from None
        try:
            names = _compile(program, source, self._toolchain(program), work)
            (work / _MANIFEST).write_text(json.dumps({"program": program.id, "files": names}))
            work.chmod(0o755)
            with self._lock:
                self.compiles += 1
            _discard_broken(entry)
            try:
                os.rename(work, entry)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                # Another process finished the same entry first; theirs is as good as ours.
                names = _read_manifest(entry) or names
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if _read_manifest(entry) is None:
            raise BuildError(f"{program.id}: cache entry {entry} is unreadable after building it")
        return names


def build(program: Program, cache_dir: str | Path | None = None) -> Built:
    """Build one program with a fresh Builder (detects toolchains each call; keep a Builder to reuse)."""
    return Builder(cache_dir).build(program)


def _read_source(program: Program) -> bytes:
    try:
        return program.source.read_bytes()
    except OSError as exc:
        raise BuildError(f"{program.id}: cannot read source {program.source}: {exc.strerror}") from None


def _read_manifest(entry: Path) -> list[str] | None:
    """The entry's file names, or None if it is missing or incomplete (then it is rebuilt)."""
    try:
        names = json.loads((entry / _MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not names or not all(isinstance(n, str) and (entry / n).is_file() for n in names):
        return None
    return names


def _sweep_stale(cache_dir: Path) -> None:
    """Remove work directories of builders that died mid-compile (old enough that none is running)."""
    cutoff = time.time() - _STALE_WORK_S
    for path in cache_dir.glob(".*-*"):
        try:
            if path.name.startswith((".build-", ".broken-")) and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            pass  # another builder swept it


def _discard_broken(entry: Path) -> None:
    """Move an unreadable entry aside so the rename can replace it (a crash cannot make one, but a
    disk cleaner or a person can)."""
    if entry.exists() and _read_manifest(entry) is None:
        aside = Path(tempfile.mkdtemp(prefix=".broken-", dir=entry.parent))
        try:
            os.rename(entry, aside / "entry")
        except FileNotFoundError:
            pass  # another process moved it first
        shutil.rmtree(aside, ignore_errors=True)


def _compile_flags(language: str) -> tuple[str, ...]:
    return {"cpp": CXX_FLAGS, "java": JAVAC_FLAGS, "python": ()}[language]


def _compile(program: Program, source: bytes, toolchain: Toolchain, out: Path) -> list[str]:
    """Compile `source` into `out`; return the names of the files the box needs."""
    if program.language == "python":
        try:  # nothing to compile, but a syntax error is a build error, not a runtime error
            compile(source, str(program.source), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            raise BuildError(f"{program.id}: {type(exc).__name__}: {exc}") from None
        (out / program.source.name).write_bytes(source)
        return [program.source.name]
    copy = out / "src" / program.source.name  # javac wants the file named after its public class
    copy.parent.mkdir()
    copy.write_bytes(source)
    if program.language == "cpp":
        binary = program.source.stem
        _check_call(program, [toolchain.tools["g++"], *CXX_FLAGS, "-o", str(out / binary), str(copy)])
        names = [binary]
    else:
        _check_call(program, [toolchain.tools["javac"], *JAVAC_FLAGS, "-d", str(out), str(copy)])
        names = sorted(p.name for p in out.glob("*.class"))  # nested classes get files of their own
    shutil.rmtree(copy.parent)
    return names


def _check_call(program: Program, argv: list[str]) -> None:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=_COMPILE_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"{program.id}: {Path(argv[0]).name} took over {_COMPILE_TIMEOUT_S} s") from None
    except OSError as exc:
        raise BuildError(f"{program.id}: cannot run {argv[0]}: {exc.strerror}") from None
    if proc.returncode != 0:
        complaint = [line for line in (proc.stderr + proc.stdout).splitlines() if "error" in line.lower()]
        first = (complaint or (proc.stderr + proc.stdout).splitlines() or ["no output"])[0]
        raise BuildError(
            f"{program.id}: {Path(argv[0]).name} failed (exit {proc.returncode}): {first.strip()}"
        )


def _run_command(program: Program, toolchain: Toolchain, names: list[str]) -> list[str]:
    if program.language == "cpp":
        return ["./" + names[0]]
    if program.language == "java":
        main_class = program.source.stem
        return [toolchain.tools["java"], *JAVA_RUN_FLAGS, "-cp", ".", main_class]
    return [toolchain.tools["python3"], *PYTHON_RUN_FLAGS, names[0]]
