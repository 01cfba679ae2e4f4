"""docs/architecture.md stays a true map: its event catalogue has one row per event class of domain_events, and
each row names the channels the class declares (feed rows, webhook types, audit action, metrics)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authserver import domain_events

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
EVENTS = domain_events.catalogue()
NONE = "—"
HEADER = "| Event | Feed | Webhooks | Audit action | Metrics | Emitted by |"


def _catalogue_rows() -> dict[str, list[str]]:
    """The event catalogue table: event class name -> its cells after the first (Feed, Webhooks, Audit action,
    Metrics, Emitted by)."""
    lines = DOC.read_text().splitlines()
    assert HEADER in lines, f"{DOC.name} has no event catalogue table headed {HEADER!r}"
    rows = {}
    for line in lines[lines.index(HEADER) + 2 :]:  # past the header and its --- line
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def _names(cell: str) -> tuple[str, ...]:
    return () if cell == NONE else tuple(re.findall(r"`([^`]+)`", cell))


ROWS = _catalogue_rows()


def test_every_event_of_the_catalogue_is_on_the_map_and_nothing_else_is():
    assert sorted(ROWS) == sorted(cls.__name__ for cls in EVENTS)


@pytest.mark.parametrize("cls", EVENTS, ids=lambda cls: cls.__name__)
def test_the_maps_row_names_the_channels_the_event_declares(cls):
    feed, webhooks, audit, metrics = ROWS[cls.__name__][:4]
    assert _names(feed) == cls.FEED
    assert _names(webhooks) == cls.WEBHOOKS
    assert _names(audit) == ((cls.AUDIT,) if cls.AUDIT else ())
    assert metrics == ("yes" if cls.AUDIT else NONE)  # metrics.project counts every audited event, and only those
