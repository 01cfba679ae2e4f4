"""resource_demo's log lines: token-shaped text is withheld wherever it appears in a formatted record."""

from __future__ import annotations

import io
import logging

import pytest

from authserver_resource.log_redaction import WITHHELD, RedactingFormatter, redact

JWS = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJpbnRfMSJ9.c2lnbmF0dXJlLWJ5dGVz"
V1_KEY = "v1_" + "A" * 21 + "b-_" + "9" * 19


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f'"GET /v2/{JWS} HTTP/1.1" 404 -', JWS),
        (f'"GET /v2/contacts?token={JWS}&page=2 HTTP/1.1" 200 -', JWS),
        ('"GET /v2/contacts?access_token=not-a-jws-at-all HTTP/1.1" 400 -', "not-a-jws-at-all"),
        (f"first two parts only: {JWS.rsplit('.', 1)[0]}.", JWS.rsplit(".", 1)[0]),
        (f"header only: {JWS.split('.')[0]}", JWS.split(".")[0]),
        (f'"GET /v1/contacts/{V1_KEY} HTTP/1.1" 404 -', V1_KEY),
        (f"code 400, message Bad request syntax ('GARBAGE {V1_KEY}')", V1_KEY),
    ],
)
def test_token_shaped_text_is_withheld(line, secret):
    redacted = redact(line)
    assert secret not in redacted and WITHHELD in redacted


def test_ordinary_lines_are_left_alone():
    line = '"GET /v2/contacts/ct_4jz3xq2w7m5k1y8n6p0r HTTP/1.1" 200 - (feed live from cursor 12)'
    assert redact(line) == line


def test_the_formatter_withholds_tokens_in_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("resource_demo.test_log_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"cannot decode {JWS}")
        except ValueError:
            logger.error("unhandled on GET %s", f"/v2/{V1_KEY}", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "ValueError" in text and "Traceback" in text
    assert JWS not in text and V1_KEY not in text and "eyJ" not in text
