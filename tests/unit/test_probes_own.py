"""The pipeline's own fds and RSS as psutil reports them follow what the process really holds."""

from __future__ import annotations

import os

from reliability.probes.own import own_fds, own_rss_kb


def test_own_fds_counts_every_fd_opened_and_closed():
    before = own_fds()
    pipes = [os.pipe() for _ in range(5)]
    try:
        assert own_fds() == before + 10
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)
    assert own_fds() == before


def test_own_rss_grows_with_memory_touched():
    before = own_rss_kb()
    block = bytearray(64 * 1024 * 1024)  # zero-filled by the allocator: every page is touched
    block[::4096] = b"x" * len(block[::4096])
    assert own_rss_kb() - before >= 48 * 1024
    del block
