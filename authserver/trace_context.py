"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the caller's ``traceparent`` carried into our log lines.

A request with a valid ``traceparent`` (version ``00``) gets a span of its own: the caller's trace id, a new span id,
the caller's span as parent. Its log lines carry ``trace_id``, ``span_id`` and ``parent_id``, and the response
names our span in a ``traceresponse`` header (the Trace Context Level 2 draft's response header; a ``traceparent``
on a response is defined nowhere), so the caller can find our lines. A missing or malformed header is ignored,
never an error: the request is served as if it had sent none. Without one we do not make up a trace id: it would
join nothing, cost a random draw per request, and the request id already names the request.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

_HEX = frozenset("0123456789abcdef")  # lowercase only, as section 3.2 writes it


class TraceContext(NamedTuple):
    """One request's place in the caller's trace: ``span_id`` is ours, ``parent_id`` the caller's."""

    trace_id: str
    span_id: str
    parent_id: str
    flags: str

    def log_fields(self) -> dict[str, str]:
        return {"trace_id": self.trace_id, "span_id": self.span_id, "parent_id": self.parent_id}

    def traceresponse(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def _is_hex(text: str, zero_allowed: bool = True) -> bool:
    return _HEX.issuperset(text) and (zero_allowed or text.strip("0") != "")


def parse_traceparent(header: str | None) -> TraceContext | None:
    """The request's trace context, or None for a header that is absent or not a valid version-00 ``traceparent``
    (section 3.2: ``00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>``, neither id all zeros)."""
    if not header or len(header) != 55:
        return None
    version, trace_id, parent_id, flags = header[:2], header[3:35], header[36:52], header[53:]
    if version != "00" or header[2] != "-" or header[35] != "-" or header[52] != "-":
        return None
    if not (_is_hex(trace_id, zero_allowed=False) and _is_hex(parent_id, zero_allowed=False) and _is_hex(flags)):
        return None
    return TraceContext(trace_id, new_span_id(), parent_id, flags)


def new_span_id() -> str:
    """A span id: 8 random bytes, not all zero (an all-zero id is invalid)."""
    while True:
        span = secrets.token_hex(8)
        if span != "0" * 16:
            return span
