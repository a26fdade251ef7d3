"""The compile cache, with the real compilers: hits, misses, errors, skips and concurrent builders."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from reliability.workload import catalog
from reliability.workload.build import Builder, BuildError, ToolchainMissing
from reliability.workload.toolchain import detect_all

TOOLCHAINS = detect_all()


def _need(language: str) -> None:
    if not TOOLCHAINS[language].available:
        pytest.skip(TOOLCHAINS[language].missing)


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix=f"wl-build-{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _own_copy(program: catalog.Program, where: Path, text: str | None = None) -> catalog.Program:
    """The program with its source copied under `where` (so the test may change it)."""
    source = where / "src" / program.source.name
    source.parent.mkdir(exist_ok=True)
    source.write_text(program.source.read_text() if text is None else text)
    return dataclasses.replace(program, source=source)


def _leftovers(cache: Path) -> list[str]:
    return [p.name for p in cache.iterdir() if p.name.startswith(".")] if cache.exists() else []


@pytest.mark.parametrize("program_id", ["cpp/ok_sum", "java/ok_sum", "python/ok_sum"])
def test_second_build_is_a_cache_hit(workdir, program_id):
    program = catalog.get(program_id)
    _need(program.language)
    cache = workdir / "cache"
    builder = Builder(cache, TOOLCHAINS)
    first = builder.build(program)
    assert builder.compiles == 1
    mtimes = {path: os.stat(path).st_mtime_ns for path in first.files}

    again = builder.build(program)
    other_process_view = Builder(cache, TOOLCHAINS)
    third = other_process_view.build(program)
    assert builder.compiles == 1 and other_process_view.compiles == 0
    assert again == first == third
    assert {path: os.stat(path).st_mtime_ns for path in first.files} == mtimes
    assert all(Path(path).parent.parent == cache for path in first.files)
    assert _leftovers(cache) == []


def test_changed_source_is_recompiled(workdir):
    _need("cpp")
    builder = Builder(workdir / "cache", TOOLCHAINS)
    original = _own_copy(catalog.get("cpp/ok_sum"), workdir)
    before = builder.build(original)
    changed = _own_copy(original, workdir, '#include <cstdio>\nint main() { std::puts("42"); }\n')
    after = builder.build(changed)
    assert builder.compiles == 2
    assert after.key != before.key and set(after.files).isdisjoint(before.files)
    (binary,) = after.files
    assert subprocess.run([binary], capture_output=True, text=True, check=True).stdout == "42\n"


@pytest.mark.parametrize(
    "program_id, broken, complaint",
    [
        ("cpp/ok_sum", "int main() { return undefined_name; }\n", "undefined_name"),
        ("java/ok_sum", "public class OkSum { void f() { int x = ; } }\n", "error"),
        ("python/ok_sum", "print(1 +\n", "SyntaxError"),
    ],
)
def test_build_error_is_clear_and_leaves_nothing(workdir, program_id, broken, complaint):
    program = _own_copy(catalog.get(program_id), workdir, broken)
    _need(program.language)
    cache = workdir / "cache"
    with pytest.raises(BuildError) as info:
        Builder(cache, TOOLCHAINS).build(program)
    message = str(info.value)
    assert message.startswith(program_id + ":") and complaint in message and "\n" not in message
    assert list(cache.iterdir()) == []


def test_missing_toolchain_means_skipped_not_built(workdir):
    builder = Builder(workdir / "cache", detect_all(path=""))
    with pytest.raises(ToolchainMissing) as info:
        builder.build(catalog.get("cpp/ok_sum"))
    assert info.value.reason == "g++ not found on PATH"
    built, skipped = builder.build_all(catalog.PROGRAMS)
    assert built == {} and set(skipped) == {p.id for p in catalog.PROGRAMS}
    assert skipped["java/ok_sum"] == "javac not found on PATH (install a JDK)"


def test_broken_cache_entry_is_rebuilt(workdir):
    _need("python")
    builder = Builder(workdir / "cache", TOOLCHAINS)
    program = catalog.get("python/ok_sum")
    first = builder.build(program)
    (entry_file,) = first.files
    os.unlink(Path(entry_file).parent / "manifest.json")
    again = builder.build(program)
    assert builder.compiles == 2 and again == first and Path(entry_file).is_file()


_BUILD_ONE = """
import json, sys
from reliability.workload import catalog
from reliability.workload.build import Builder
built = Builder(sys.argv[1]).build(catalog.get(sys.argv[2]))
print(json.dumps(sorted(built.files)))
"""


def test_concurrent_builders_agree_and_leave_one_entry(workdir):
    _need("cpp")
    cache = workdir / "cache"
    repo = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD_ONE, str(cache), "cpp/ok_sieve"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    (binary,) = json.loads(outputs[0][0])
    assert [p.name for p in cache.iterdir()] == [Path(binary).parent.name]
    assert subprocess.run([binary], capture_output=True, text=True).stdout == "78498\n"


def test_build_all_builds_each_source_once(workdir):
    programs = [p for p in catalog.PROGRAMS if p.language == "python"]
    _need("python")
    builder = Builder(workdir / "cache", TOOLCHAINS)
    built, skipped = builder.build_all(programs)
    assert skipped == {} and set(built) == {p.id for p in programs}
    assert builder.compiles == len({p.source for p in programs})  # tle_sleep and sleeper share one


def test_unusable_cache_dir_is_a_build_error(workdir):
    (workdir / "a-file").write_text("")
    with pytest.raises(BuildError) as info:
        Builder(workdir / "a-file" / "cache", TOOLCHAINS).build(catalog.get("python/ok_sum"))
    assert "build cache" in str(info.value)


def test_work_dirs_of_dead_builders_are_swept(workdir):
    _need("python")
    cache = workdir / "cache"
    stale, live = cache / ".build-dead", cache / ".build-alive"
    for path in (stale, live):
        path.mkdir(parents=True)
    os.utime(stale, (0, 0))
    Builder(cache, TOOLCHAINS).build(catalog.get("python/ok_sum"))
    assert not stale.exists() and live.exists()
