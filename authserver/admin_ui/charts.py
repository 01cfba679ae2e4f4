"""The 30-day usage chart as plain geometry for an inline SVG: no chart library, no script, nothing to load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    count: int


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    day: date


@dataclass(frozen=True)
class UsageChart:
    width: int
    height: int
    left: int
    right_edge: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[DayLabel]
    total: int


def usage_chart(usage: dict[date, int]) -> UsageChart:
    days = sorted(usage)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_ceiling(max(usage.values(), default=0))
    slot = plot_width / max(len(days), 1)
    baseline = TOP + plot_height
    bars = []
    for index, day in enumerate(days):
        count = usage[day]
        # A quiet day is a thin line on the axis; a day with any use is never thinner than 3 px.
        height = 2.0 if count == 0 else max(plot_height * count / top, 3.0)
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.15, 2),
                y=round(baseline - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                day=day,
                count=count,
            )
        )
    ticks = [
        Tick(y=round(baseline - plot_height * value / top, 2), label=f"{value:,}")
        for value in ([0, top // 2, top] if top % 2 == 0 else [0, top])
    ]
    labels = [
        DayLabel(x=round(LEFT + index * slot + slot / 2, 2), day=day)
        for index, day in enumerate(days)
        if (len(days) - 1 - index) % 7 == 0
    ]  # weekly, ending on today
    return UsageChart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, baseline, bars, ticks, labels, sum(usage.values()))


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... at or above ``value``: round numbers on the axis."""
    ceiling = 1
    while True:
        for step in (1, 2, 5):
            if ceiling * step >= value:
                return max(ceiling * step, 1)
        ceiling *= 10
