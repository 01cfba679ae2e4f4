"""How many CPUs this process may really use: the affinity mask, then the container's cgroup quota.

``os.cpu_count()`` counts the host's CPUs; in a container limited to 2 CPUs on a 96-CPU host it would start 96
workers that share two CPUs (and, past 64, the old bound refused to start at all).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _quota_v2(root: Path) -> float | None:
    """cgroup v2: ``cpu.max`` holds ``"<quota> <period>"`` or ``"max <period>"``."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return int(quota) / int(period) if int(period) > 0 and int(quota) > 0 else None


def _quota_v1(root: Path) -> float | None:
    """cgroup v1: ``cpu.cfs_quota_us`` is -1 when unlimited."""
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may schedule on, lowered to the cgroup's CPU quota (rounded up), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    quota = _quota_v2(cgroup_root)
    if quota is None:
        quota = _quota_v1(cgroup_root)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)
