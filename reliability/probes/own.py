"""The pipeline's own resources (open fds, resident memory), through psutil.

These are read a few times a second at most (the sampler), so psutil's cost does not matter here; the
host-wide process table and fd targets stay on raw /proc reads in host.py (see there why).
"""

from __future__ import annotations

import psutil


def own_fds() -> int:
    return psutil.Process().num_fds()


def own_rss_kb() -> int:
    return psutil.Process().memory_info().rss // 1024
