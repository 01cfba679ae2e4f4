"""Tokens never reach a service's log: whatever looks like one is withheld from every formatted line.

A client may put a token where it should not be: in the URL path (``GET /v2/<token>``), a query string, a garbled
request line werkzeug reports, or an exception message. Rather than guess every place a line can come from, the
formatter redacts the whole formatted text (message, arguments and traceback) of every record of the process.
The shapes are the authorization server's: a compact JWS (RFC 7515 §7.1, its header starts ``eyJ``, even cut
short) and a legacy v1 key (``v1_`` and 43 base64url characters); ``access_token=`` values of any shape too.
"""

from __future__ import annotations

import logging
import re

WITHHELD = "[token withheld]"
_TOKEN_LIKE = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}"  # a compact JWS, or the first part(s) of one
    r"|v1_[A-Za-z0-9_-]{20,}"  # a v1 API key
    r"|(?<=access_token=)[^&\s\"']+"
)  # RFC 6750 §2.3's query parameter, whatever its value looks like


def redact(text: str) -> str:
    return _TOKEN_LIKE.sub(WITHHELD, text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line (and traceback) has token-shaped text withheld."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def install(level: int = logging.INFO) -> None:
    """Log to stderr through ``RedactingFormatter``: the root handler carries every logger's records here,
    werkzeug's request lines (``run`` mode) included."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
