"""Resident memory of a server's worker processes by kind, and the soak's verdict on its growth.

The kinds are /proc/PID/status's: anonymous (heaps, malloc arenas, Python's arenas), file-backed (code, mapped
files such as SQLite's) and shared memory. The 2026-12-07 search for the soak's growth started from this split
(docs/performance-log.md): the growth was anonymous, in one thread's malloc arena.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KINDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")
GROWTH_LIMIT = 0.05  # the bar: under 5% over the last 5 minutes
GROWTH_WINDOW = 300.0


def worker_pids(parent: int) -> list[int]:
    """The parent's child processes (granian's workers), in pid order."""
    found: list[int] = []
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(found)


def rss_kinds(pid: int) -> dict[str, float]:
    """MiB resident by kind (0 for a process that is gone)."""
    found = dict.fromkeys(KINDS, 0.0)
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        name, _, value = line.partition(":")
        if name in found:
            found[name] = int(value.split()[0]) / 1024
    return found


@dataclass(frozen=True)
class Sample:
    seconds: float
    workers: dict[int, dict[str, float]]  # pid -> MiB by kind

    def line(self) -> str:
        parts = [
            f"{w['VmRSS']:.1f} (anon {w['RssAnon']:.1f}, file {w['RssFile']:.1f}, shmem {w['RssShmem']:.1f})"
            for w in self.workers.values()
        ]
        return f"{self.seconds:5.0f}s  " + " | ".join(parts)


def sample(parent: int, seconds: float) -> Sample:
    return Sample(seconds, {pid: rss_kinds(pid) for pid in worker_pids(parent)})


@dataclass(frozen=True)
class Growth:
    """Each worker's RSS growth from the first sample of the window to the last sample, as a fraction."""

    window: float  # seconds actually covered
    per_worker: dict[int, float]
    replaced: bool  # a worker's pid changed inside the window: its growth is not comparable

    @property
    def passed(self) -> bool:
        return bool(self.per_worker) and not self.replaced and max(self.per_worker.values()) < GROWTH_LIMIT

    def verdict(self) -> str:
        figures = " ".join(f"{g * 100:+.1f}%" for g in self.per_worker.values()) or "no samples"
        span = "the last 5 minutes" if self.window >= GROWTH_WINDOW - 1 else f"the last {self.window:.0f} s only"
        status = "PASS" if self.passed else "FAIL"
        extra = " (a worker was replaced inside the window)" if self.replaced else ""
        return f"soak: growth under 5% over {span}: {status} (per worker {figures}){extra}"


def growth(samples: list[Sample], window: float = GROWTH_WINDOW) -> Growth:
    """Growth over the last ``window`` seconds, or over the soak's second half when it is shorter than two
    windows (the first half is warm-up: caches filling)."""
    if len(samples) < 2:
        return Growth(0.0, {}, False)
    end = samples[-1].seconds
    start = end - min(window, end / 2)
    first = next(s for s in samples if s.seconds >= start)
    last = samples[-1]
    replaced = set(first.workers) != set(last.workers)
    per_worker = {
        pid: (last.workers[pid]["VmRSS"] - kinds["VmRSS"]) / kinds["VmRSS"]
        for pid, kinds in first.workers.items()
        if pid in last.workers and kinds["VmRSS"]
    }
    return Growth(last.seconds - first.seconds, per_worker, replaced)
