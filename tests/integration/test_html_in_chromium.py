"""The HTML reports of real stages, opened in headless Chromium: a stage's page renders, its plots are
drawn, and the verdict is the first thing on it; the release page puts the verdict, the failed checks and
the regressions above the fold of a 1400 px wide window, in that order, before the stages.

Short real runs (real boxes, real programs; one with the refbox's wrong-verdict defect, so checks fail,
compared by `reliability compare` with a clean one) give the histories; `reliability report --html` and `reliability report --release` render them;
Chromium dumps the DOM (with a script that reports where each part landed) and takes screenshots.
Set RELIABILITY_UPDATE_SCREENSHOT=1 to refresh docs/report.png and docs/release.png from these runs.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1000, 2400
FOLD = (1400, 900)  # a laptop's browser window: what the release page must show without scrolling
PLOT_BLUE = (0x1F, 0x77, 0xB4)  # matplotlib's first colour: bars and lines of every plot
# The verdict box border. The run may fail through no fault of the report (another run on a shared host
# can leave a mount the leak check sees), so the test reads the verdict and looks for its colour.
BORDER = {"PASSED": (0x1A, 0x7F, 0x37), "FAILED": (0xB0, 0x00, 0x20)}

pytestmark = [
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} absent (Debian package chromium)"
    ),
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("matplotlib") is None,
        reason="matplotlib (the `report` extra) is not installed: the page would have no plots",
    ),
]


def _reliability(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reliability", *args],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real 12-submission stress run and its HTML report; everything is removed afterwards."""
    # Not under pytest's tmp_path: box uids must reach the box root, and /tmp/pytest-of-root is 0700.
    work = Path(tempfile.mkdtemp(prefix=f"html-chromium-{os.getpid()}-"))
    try:
        boxes = work / "boxes"
        boxes.mkdir()
        os.chmod(work, 0o755)
        os.chmod(boxes, 0o755)
        run = _reliability(
            "run", "stress", "--profile", "smoke", "--submissions", "12", "--seed", "11",
            "--runs", "runs", "--reports", "reports", "--box-base", str(850 + os.getpid() % 100),
            "--target-option", f"box_root={boxes}",
            "--target-option", f"cgroup_name=refbox-html-{os.getpid()}",
            cwd=work,
        )  # fmt: skip
        assert run.returncode in (0, 1), run.stdout + run.stderr  # 1: a check failed, still a report
        (run_dir,) = (work / "runs").iterdir()
        rendered = _reliability("report", str(run_dir), "--reports", "reports", "--html", cwd=work)
        assert rendered.returncode == run.returncode, rendered.stdout + rendered.stderr
        verdict = "PASSED" if run.returncode == 0 else "FAILED"
        yield work / "reports" / "stress.html", verdict, tmp_path_factory.mktemp("chromium")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _remove_cgroup_roots(f"refbox-html-{os.getpid()}")


def _remove_cgroup_roots(name: str) -> None:
    """The run's cgroup parents, one per hierarchy (v1) or one (v2); rmdir only succeeds when empty."""
    for root in [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]:
        try:
            (root / name).rmdir()
        except OSError:
            pass


def _chromium(page: Path, profile: Path, *mode: str, size: tuple[int, int] = (WIDTH, HEIGHT)):
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", *mode, page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_the_dom_has_the_verdict_first_and_every_plot_embedded(report):
    page, verdict, tmp = report
    dom = _chromium(page, tmp / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = dom.stdout.split("<body>", 1)[1].lstrip()
    assert body.startswith(f'<section id="verdict" class="box o-{verdict.lower()} {verdict}">'), body[:300]
    assert f'<h1 class="{verdict}">stress: {verdict}</h1>' in body
    plots = re.findall(r'<img class="plot" alt="([^"]*)" src="data:image/png;base64,', body)
    expected = [
        "executions per minute over time",
        "overhead percentiles per language over time",
        "verdict mix expected vs observed",
        "host resources over the run",
    ]
    assert plots[:4] == expected
    queue = body.split('<section id="queue">')[1].split("</section>")[0]
    assert ("queue depth and in-flight" in queue) == ("No queue samples" not in queue)


def test_the_screenshot_shows_the_plots_and_the_verdict_box_on_top(report):
    from matplotlib.image import imread

    page, verdict, tmp = report
    shot = tmp / "report.png"
    result = _chromium(page, tmp / "profile-shot", f"--screenshot={shot}")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)

    def rows_with(colour: tuple[int, int, int]) -> list[int]:
        hits = (abs(pixels - colour) <= 2).all(axis=2)
        return (hits.sum(axis=1) >= 20).nonzero()[0].tolist()

    border = rows_with(BORDER[verdict])
    assert border and border[0] < 60, "the verdict box is not at the top of the page"
    blue = rows_with(PLOT_BLUE)
    assert len(blue) > 200, "the plots were not drawn"  # bars and lines fill hundreds of rows
    assert blue[0] > border[0]
    if os.environ.get("RELIABILITY_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "report.png")


# --- The release page ---

# Reports where each part of the page landed, as JSON in the DOM that --dump-dom prints: the layout a
# 1400 x 900 window really gets, not a guess from the HTML.
MEASURE = """<script>
window.addEventListener('load', () => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; };
  const parts = {};
  for (const id of ['verdict', 'failures', 'regressions', 'stages']) parts[id] = box(document.getElementById(id));
  parts.failed = [...document.querySelectorAll('#failures .failure')].map(box);
  parts.regressed = [...document.querySelectorAll('#regressions .failure')].map(box);
  parts.viewport = {width: window.innerWidth, height: window.innerHeight};
  const out = document.createElement('pre');
  out.id = 'layout';
  out.textContent = JSON.stringify(parts);
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def release_page():
    """Real smoke runs: stress with the refbox's wrong-verdict defect (its verdict check fails, each
    wrong verdict with its replay command) and a clean leaks stage; `reliability compare` of that stress
    run against a clean one of the same seed (the baseline: two regressions); then the release page."""
    work = Path(tempfile.mkdtemp(prefix=f"release-chromium-{os.getpid()}-"))
    cgroup = f"refbox-release-{os.getpid()}"
    try:
        boxes = work / "boxes"
        boxes.mkdir()
        os.chmod(work, 0o755)
        os.chmod(boxes, 0o755)
        common = (
            "--profile", "smoke", "--seed", "17", "--box-base", str(750 + os.getpid() % 50), "--target-option", f"box_root={boxes}",
            "--target-option", f"cgroup_name={cgroup}",
        )  # fmt: skip
        baseline = _reliability(
            "run", "stress", "--submissions", "12", *common, "--runs", "baseline", "--reports", "baseline",
            cwd=work,
        )  # fmt: skip
        assert baseline.returncode in (0, 1), baseline.stdout + baseline.stderr
        stress = _reliability(
            "run", "stress", "--submissions", "12", *common, "--runs", "runs", "--reports", "reports",
            cwd=work, env={"REFBOX_FAILPOINTS": "defect.wrong_verdict"},
        )  # fmt: skip
        assert stress.returncode == 1, stress.stdout + stress.stderr
        leaks = _reliability(
            "run", "leaks", "--iterations", "8", *common, "--runs", "runs", "--reports", "reports", cwd=work
        )  # fmt: skip
        assert leaks.returncode in (0, 1), leaks.stdout + leaks.stderr
        compared = _reliability("compare", "baseline", "runs", "--reports", "reports", cwd=work)
        assert compared.returncode == 1, compared.stdout + compared.stderr  # the wrong verdicts regressed
        rendered = _reliability("report", "--release", "reports", cwd=work)
        assert rendered.returncode == 1, rendered.stdout + rendered.stderr  # the gate fails: so does the page
        yield work / "reports" / "release.html"
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _remove_cgroup_roots(cgroup)


def test_release_page_order_and_what_is_above_the_fold(release_page, tmp_path):
    measured = tmp_path / "measured.html"
    measured.write_text(release_page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = _chromium(measured, tmp_path / "profile-dom", "--dump-dom", size=FOLD)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = dom.stdout.split("<body>", 1)[1]
    # The DOM order: the verdict, then the failed checks, then the regressions, then the stages.
    order = [body.index(f'id="{part}"') for part in ("verdict", "failures", "regressions", "stages")]
    assert order == sorted(order)
    assert '<h1 class="FAILED">release candidate: FAILED</h1>' in body[: order[1]]
    failures = body[order[1] : order[2]]
    assert "stress: all verdicts correct" in failures and "reliability replay " in failures
    assert "run stress --profile smoke --seed 17" in failures
    assert "stress: wrong-verdict rate not higher than the baseline" in body[order[2] : order[3]]
    assert 'id="stage-' in body[order[3] :]
    # Above the fold of a 1400 x 900 window: the verdict, every failed check's card, the regression.
    layout = json.loads(html.unescape(re.search(r'<pre id="layout">(.*?)</pre>', body, re.S).group(1)))
    fold = layout["viewport"]["height"]
    assert layout["viewport"]["width"] == FOLD[0] and fold <= FOLD[1]
    assert layout["verdict"]["top"] >= 0 and layout["verdict"]["bottom"] < fold
    assert layout["failed"] and all(card["bottom"] <= fold for card in layout["failed"]), layout
    assert layout["regressed"] and all(card["bottom"] <= fold for card in layout["regressed"]), layout
    assert layout["stages"]["top"] > layout["failures"]["top"]


def test_release_screenshot_shows_the_verdict_and_the_failures(release_page, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "release.png"
    result = _chromium(release_page, tmp_path / "profile-shot", f"--screenshot={shot}", size=FOLD)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (FOLD[1], FOLD[0])
    red = (abs(pixels - BORDER["FAILED"]) <= 2).all(axis=2)
    # The verdict box: its red top and bottom borders span the page, at the top.
    wide = (red.sum(axis=1) >= FOLD[0] // 2).nonzero()[0]
    assert wide.size >= 2 and wide[0] < 40, "no red verdict box at the top"
    # Below it, in view, the failure cards' red left edges (4 px): a red run down the page's left side.
    edges = (red[wide[-1] + 1 :, :60].sum(axis=1) >= 3).nonzero()[0]
    assert edges.size > 80, "the failed checks are not in the screenshot"
    if os.environ.get("RELIABILITY_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "release.png")
