"""Sessions: one per stage (`nox -s stress leaks`), plus tests, lint and gate.

Arguments after `--` go to the command, e.g. `nox -s stress -- --profile release --seed 42`.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
# A stage session is run again and again by operators; reinstalling the package each time only costs time.
nox.options.reuse_existing_virtualenvs = True

STAGES = ("stress", "leaks", "concurrent", "exhaustion", "locks", "isolation", "crash", "faults", "state")


def _install(session: nox.Session, extras: str = "") -> None:
    session.install("-e", f".{extras}")


def _stage_session(stage: str):
    def run_stage(session: nox.Session) -> None:
        _install(session)
        session.run("reliability", "run", stage, *session.posargs)

    run_stage.__doc__ = f"Run the {stage} stage on the built-in sandbox (quick profile unless told)."
    return run_stage


for _stage in STAGES:
    nox.session(name=_stage)(_stage_session(_stage))


@nox.session(name="stages")
def all_stages(session: nox.Session) -> None:
    """Every stage, ending with one scorecard table: `nox -s stages -- --target isolate --profile smoke`."""
    _install(session)
    session.run("reliability", "run", "all", *session.posargs)


@nox.session
def gate(session: nox.Session) -> None:
    """Fail if any report under reports/ failed, is missing, unreadable or empty."""
    _install(session)
    session.run("reliability", "gate", "reports", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """A release candidate's runs against the last release's: `nox -s compare -- BASELINE CANDIDATE`
    (writes reports/regression.xml and regression.json; docs/release.md)."""
    _install(session)
    session.run("reliability", "compare", *session.posargs)


@nox.session
def provision(session: nox.Session) -> None:
    """Provision the fleet with Ansible (default: this machine): `nox -s provision -- -i inventory.yml`."""
    _install(session, "[fleet]")
    session.run("reliability", "fleet", "provision", *session.posargs)


@nox.session
def fleet(session: nox.Session) -> None:
    """Run stages across the fleet, then gate: `nox -s fleet -- -i inv.yml --stages stress,leaks`."""
    _install(session, "[fleet]")
    args = session.posargs or ["--stages", "stress,leaks", "--profile", "smoke"]
    session.run("reliability", "fleet", "run", *args)


@nox.session
def report(session: nox.Session) -> None:
    """HTML report (reports/<stage>.html) of the newest run of each stage, or of the runs given after --;
    `-- --release [REPORTS_DIR]`: one page for the release candidate (reports/release.html)."""
    _install(session, "[report]")
    if session.posargs[:1] == ["--release"]:
        rest = session.posargs[1:]
        if not rest or rest[0].startswith("-"):
            rest = ["reports", *rest]
        # exit 1 means the gate failed: the page shows why, so it is not a failure of this session
        session.run("reliability", "report", "--release", *rest, success_codes=[0, 1])
        return
    runs = session.posargs or _newest_runs(Path("runs"))
    if not runs:
        session.error("no run directories under runs/: run a stage first (nox -s stress leaks)")
    for run_dir in runs:
        # exit 1 means a check failed: the page shows which, so it is not a failure of this session
        stage = Path(run_dir).name.split("-")[0]
        html = str(Path("reports") / f"{stage}.html")
        session.run("reliability", "report", str(run_dir), "--html", html, success_codes=[0, 1])


def _newest_runs(root: Path) -> list[Path]:
    newest: dict[str, Path] = {}
    for run_dir in sorted(root.glob("*-*-*-*"), key=lambda p: p.stat().st_mtime):
        newest[run_dir.name.split("-")[0]] = run_dir
    return sorted(newest.values())


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (as root: real cgroups, mounts and processes)."""
    _install(session, "[dev,report,fleet]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session
def tests_cgroup_v2(session: nox.Session) -> None:
    """The v2 backend and refbox tests, then smoke stages, on a cgroup v2 kernel booted in qemu.

    Needs qemu-system-x86 and busybox-static; the kernel comes from apt once, then from the cache.
    JUnit and run directories land in reports/cgroup-v2/; the session fails when the guest does.
    """
    _install(session, "[dev]")
    # The interpreter with the dependencies (this venv's, or nox's own with --no-venv): the guest
    # sees it through the 9p root.
    guest_python = session.run("python", "-c", "import sys; print(sys.executable)", silent=True).strip()
    session.run(
        "python", "tests/vm/cgroup_v2_vm.py", "--results", "reports/cgroup-v2", *session.posargs,
        "--", "sh", "tests/vm/cgroup_v2_suite.sh", guest_python,
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and the layers: pyproject.toml's import contracts (also checked by the tests session)."""
    session.install("ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports", env={"PYTHONPATH": "."})  # the checkout's package, without its dependencies


MUTATION_SCORE_MIN = 0.90  # killed (or timed out) of all mutants, equivalent ones included


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation testing of the checks, the probes' diff, the facts after a fault and the gate against the
    unit tests that judge them (README: "Mutation testing"; configured in pyproject.toml). Prints every
    mutant not killed and the score; fails below 90 %."""
    _install(session, "[dev]")
    session.install("mutmut==3.8.1")  # 3.3.x ships a top-level `tests` package that shadows ours
    session.run("mutmut", "run", "--max-children", "2")
    lines = session.run("mutmut", "results", "--all", "true", silent=True).splitlines()
    status = dict(line.strip().rsplit(": ", 1) for line in lines if ": " in line)
    caught = sum(s in ("killed", "timeout") for s in status.values())
    for name, s in sorted(status.items()):
        if s not in ("killed", "timeout"):
            print(f"{s}: {name}  (mutmut show {name})")
    score = caught / max(1, len(status))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"mutation score: {caught} of {len(status)} mutants killed ({score:.1%}); load average {load}")
    if score < MUTATION_SCORE_MIN:
        session.error(f"mutation score {score:.1%} is below {MUTATION_SCORE_MIN:.0%}")
