"""The HTML report of a real stage, opened in headless Chromium: it renders, its plots are drawn, and the
verdict is the first thing on the page.

A short real `stress` run (real boxes, real programs) gives the history; `reliability report --html`
renders it; Chromium dumps the DOM and takes a screenshot, whose pixels show the plots and the verdict box.
Set RELIABILITY_UPDATE_SCREENSHOT=1 to refresh docs/report.png from this run.
"""

from __future__ import annotations

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
PLOT_BLUE = (0x1F, 0x77, 0xB4)  # matplotlib's first colour: bars and lines of every plot
# The verdict box border. The run may fail through no fault of the report (another run on a shared host
# can leave a mount the leak check sees), so the test reads the verdict and looks for its colour.
BORDER = {"PASSED": (0x18, 0x6A, 0x1E), "FAILED": (0xB0, 0x00, 0x20)}

pytestmark = [
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} absent (Debian package chromium)"
    ),
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("matplotlib") is None,
        reason="matplotlib (the `report` extra) is not installed: the page would have no plots",
    ),
]


def _reliability(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reliability", *args],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
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


def _chromium(page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *mode, page.as_uri(),
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
    assert body.startswith(f'<section id="verdict" class="{verdict}">'), body[:300]
    assert f'<h1 class="{verdict}">stress: {verdict}</h1>' in body
    plots = re.findall(r'<img class="plot" alt="([^"]*)" src="data:image/png;base64,', body)
    expected = [
        "executions per minute over time",
        "overhead percentiles per language over time",
        "verdict mix expected vs observed",
        "host resources per snapshot",
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
