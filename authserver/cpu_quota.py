"""How many CPUs this process may really use: the affinity mask, then the CPU quota of its cgroup and the cgroups above.

``os.cpu_count()`` counts the host's CPUs; in a container limited to 2 CPUs on a 96-CPU host it would start 96
workers that share two CPUs (and, past 64, the old bound refused to start at all). In a container the process's
cgroup is the mount's root; under systemd (``CPUQuota=``) it is a unit's folder below it (``/proc/self/cgroup``),
and each folder up to the root may set a quota: the smallest holds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _quota_v2(folder: Path) -> float | None:
    """cgroup v2: ``cpu.max`` holds ``"<quota> <period>"`` or ``"max <period>"``."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return int(quota) / int(period) if int(period) > 0 and int(quota) > 0 else None
    except (OSError, ValueError):  # no such file, "max", or text we do not understand: no quota here
        return None


def _quota_v1(folder: Path) -> float | None:
    """cgroup v1 (the ``cpu`` controller's folder): ``cpu.cfs_quota_us`` is -1 when unlimited."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _own_cgroups(proc_cgroup: Path) -> tuple[str, str]:
    """This process's cgroup path in the v2 hierarchy (``0::/path``) and in v1's ``cpu`` controller; "/" if unknown."""
    v2 = v1 = "/"
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            v2 = path or "/"
        elif "cpu" in controllers.split(","):
            v1 = path or "/"
    return v2, v1


def _folders_up(root: Path, path: str) -> list[Path]:
    """``root/path`` and each folder above it up to ``root``."""
    parts = [part for part in path.split("/") if part and part != ".."]
    return [root.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def available_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """CPUs this process may schedule on, lowered to the smallest cgroup CPU quota on its path (rounded up), at
    least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    v2_path, v1_path = _own_cgroups(proc_cgroup)
    quotas = [_quota_v2(folder) for folder in _folders_up(cgroup_root, v2_path)]
    quotas += [_quota_v1(folder) for folder in _folders_up(cgroup_root / "cpu", v1_path)]
    found = [quota for quota in quotas if quota is not None]
    if found:
        count = min(count, math.ceil(min(found)))
    return max(1, count)
