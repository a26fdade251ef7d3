"""Ctrl-C while a run goes: the first stops it gracefully, the second aborts, whenever it comes."""

from __future__ import annotations

import io
import os
import signal
import sys

import pytest

from reliability.execute import _stop_on_signals
from reliability.runner import Runner


class SecondCtrlCWhileSaying(io.StringIO):
    """stderr that receives the operator's second Ctrl-C while the first one's line is written."""

    sent = False

    def write(self, text: str) -> int:
        written = super().write(text)
        if "stopping after the runs in flight" in text and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)
        return written


def test_a_second_ctrl_c_while_the_first_is_announced_aborts(monkeypatch):
    runner = Runner(target=None, journal=None, boxes=[1], prepared={})  # the handler uses only its stop flag
    monkeypatch.setattr(sys, "stderr", SecondCtrlCWhileSaying())
    with pytest.raises(KeyboardInterrupt), _stop_on_signals(runner):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handlers run between bytecodes of this thread
            pass
    assert runner.stopping
    assert sys.stderr.getvalue().count("stopping after the runs in flight") == 1


def test_one_ctrl_c_stops_gracefully_and_the_handlers_are_given_back():
    runner = Runner(target=None, journal=None, boxes=[1], prepared={})
    before = signal.getsignal(signal.SIGINT)
    with _stop_on_signals(runner):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
        assert runner.stopping
    assert signal.getsignal(signal.SIGINT) is before
