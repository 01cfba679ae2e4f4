"""Figures of the scale scenarios: a named series of wrk results, its medians, and the printed table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from load import Result


@dataclass
class Series:
    name: str
    results: list[Result] = field(default_factory=list)
    note: str = ""

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.results) if self.results else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results)

    def figures(self) -> dict:
        return {
            "rps": self.median("rps"),
            "p50_ms": self.median("p50_ms"),
            "p99_ms": self.median("p99_ms"),
            "p999_ms": self.median("p999_ms"),
            "errors": self.errors,
            "runs": len(self.results),
        }


def print_table(title: str, series: list[Series]) -> None:
    print(f"\n{title}")
    print(f"{'scenario':46} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'errors':>7}  note")
    for s in series:
        print(
            f"{s.name:46} {s.median('rps'):8.0f} {s.median('p50_ms'):8.2f} {s.median('p99_ms'):8.2f} "
            f"{s.median('p999_ms'):9.2f} {s.errors:7d}  {s.note}"
        )
