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


# Service colours: fill attributes, not styles (the pages' Content-Security-Policy allows no inline style).
SERVICE_COLOURS = ("#2563eb", "#0d9488", "#d97706", "#9333ea", "#dc2626", "#64748b")
OTHERS = "Other services"


@dataclass(frozen=True)
class Segment:
    """One service's share of a day's bar, stacked above the services drawn before it."""

    y: float
    height: float
    colour: str
    service: str
    count: int


@dataclass(frozen=True)
class LegendEntry:
    name: str
    colour: str
    calls: int


@dataclass(frozen=True)
class CallsChart:
    chart: UsageChart  # the day totals: each bar is the day's calls, covered by its services' segments
    segments: dict[date, list[Segment]]
    legend: list[LegendEntry]


def calls_chart(per_day: dict[date, dict[str, int]], services: list[tuple[str, int]]) -> CallsChart:
    """Calls per day stacked by service: ``per_day`` maps each day (all of them, zero-filled) to calls per service
    name; ``services`` lists (name, calls) busiest first. Past six services, all but the five busiest are drawn
    as one."""
    named = services if len(services) <= len(SERVICE_COLOURS) else services[: len(SERVICE_COLOURS) - 1]
    colour = {name: SERVICE_COLOURS[index] for index, (name, _) in enumerate(named)}
    legend = [LegendEntry(name, colour[name], calls) for name, calls in named]
    rest = sum(calls for name, calls in services if name not in colour)
    if rest:
        legend.append(LegendEntry(OTHERS, SERVICE_COLOURS[-1], rest))
    chart = usage_chart({day: sum(counts.values()) for day, counts in per_day.items()})
    segments: dict[date, list[Segment]] = {}
    for bar in chart.bars:
        if not bar.count:
            continue
        counts = per_day[bar.day]
        stack = [(name, counts.get(name, 0)) for name in colour]
        stack.append((OTHERS, sum(n for name, n in counts.items() if name not in colour)))
        top = bar.y + bar.height  # the baseline: stack upwards from here
        for name, count in stack:
            if count:
                height = bar.height * count / bar.count
                top -= height
                segments.setdefault(bar.day, []).append(
                    Segment(round(top, 2), round(height, 2), colour.get(name, SERVICE_COLOURS[-1]), name, count)
                )
    return CallsChart(chart, segments, legend)
