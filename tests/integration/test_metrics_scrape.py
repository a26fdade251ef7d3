"""Metrics of a real run: scraped over HTTP during it, written as a textfile, pushed to a (local) gateway."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reliability.targets.builtin import BuiltinTarget

PID = os.getpid()
REPO = Path(__file__).resolve().parents[2]  # `-m reliability` must resolve whatever the cwd
BOX_BASE = 590 - (PID % 4) * 2
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (tmpfs mounts, cgroups)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Gateway(http.server.BaseHTTPRequestHandler):
    pushes: list[tuple[str, str, bytes]] = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.pushes.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *args):
        pass


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_scrape_during_a_run_gives_the_plans_ratios():
    work = Path(tempfile.mkdtemp(prefix=f"metrics-{PID}-"))
    port = _free_port()
    gateway = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    cmd = [sys.executable, "-m", "reliability", "run", "stress", "--profile", "smoke", "--submissions", "12"]
    cmd += [
        "--seed",
        "3",
        "--runs",
        str(work / "runs"),
        "--reports",
        str(work / "rep"),
        "--box-base",
        str(BOX_BASE),
    ]
    cmd += ["--target-option", f"box_root={work}/boxes", "--target-option", f"cgroup_name=metrics-{PID}"]
    cmd += ["--metrics-port", str(port), "--pushgateway", f"http://127.0.0.1:{gateway.server_port}"]
    proc = subprocess.Popen(cwd=REPO, args=cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    scraped = None
    try:
        for _ in range(3000):  # a hang guard: poll until a scrape shows finished executions
            assert proc.poll() is None, "the run ended before a scrape saw an execution"
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                time.sleep(0.05)
                continue
            samples = _samples(text)
            if samples.get(("rustbox_executions_total", ()), 0) >= 2:
                scraped = samples
                break
            time.sleep(0.05)
        assert proc.wait(timeout=300) in (0, 1)
        total = scraped[("rustbox_executions_total", ())]
        cleanup_ok = scraped[("rustbox_cleanup_total", (("outcome", "success"),))]
        cleanup_all = cleanup_ok + scraped[("rustbox_cleanup_total", (("outcome", "failure"),))]
        ie = scraped[("rustbox_executions_by_status", (("status", "IE"),))]
        assert cleanup_all == total and 0 <= cleanup_ok / cleanup_all <= 1  # the plan's cleanup success rate
        assert ie / total == 0.0  # the plan's IE rate on a healthy sandbox
        assert scraped[("rustbox_execution_duration_seconds_count", ())] == total
        assert ("rustbox_worker_health", (("status", "healthy"),)) in scraped
        assert ("rustbox_queue_depth", ()) in scraped and ("rustbox_executions_in_flight", ()) in scraped

        (run_dir,) = (work / "runs").iterdir()
        final = _samples((run_dir / "metrics.prom").read_text())
        assert final[("rustbox_executions_total", ())] == 12
        assert ("rustbox_leaked_resources", (("kind", "mounts"),)) in final
        (push,) = _Gateway.pushes
        assert push[0] == "PUT" and push[1] == "/metrics/job/reliability_stress"
        assert b"rustbox_executions_total 12.0" in push[2]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        gateway.shutdown()
        gateway.server_close()
        target = BuiltinTarget(box_root=f"{work}/boxes", cgroup_name=f"metrics-{PID}")
        target.recover()
        for d in target.refbox.cgroup_roots():
            if os.path.isdir(d):
                os.rmdir(d)
        shutil.rmtree(work, ignore_errors=True)


def test_bad_metrics_flags_are_one_line_errors():
    for flags in (["--metrics-port", "70000"], ["--metrics-prefix", "9bad-name"]):
        out = subprocess.run(
            cwd=REPO,
            args=[sys.executable, "-m", "reliability", "run", "stress", *flags],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
