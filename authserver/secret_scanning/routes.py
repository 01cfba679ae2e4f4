"""``POST /secret-scanning/alerts``: a secret scanner (GitHub's partner program) reports tokens it found in public.

Not under /api: no session, no CSRF, no admin client; the scanner proves itself by signing the body. In order:
the feature is on (404), the caller's address is within the revocation rate limit (429), the body fits (413), the
signature verifies over the raw bytes (401), the body is an alert (400); then one unit of work judges and revokes,
the admins' mail is queued after the commit, and the answer lists every entry in order (GitHub's format).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import OperationalError

from ..errors import ConflictError
from ..extensions import db
from ..limits.rates import REVOCATION
from ..principals import Principal
from ..services import services
from ..unit_of_work import unit_of_work
from .alerts import MAX_ALERT_BYTES, FoundToken, MalformedAlertError, parse_alert
from .leaks import Verdict, report_leaks
from .notices import leak_messages
from .signature import SignatureError, verify_alert
from .state import scanning

bp = Blueprint("secret_scanning", __name__)

IDENTIFIER_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"


@bp.post("/secret-scanning/alerts")
def receive_alert() -> tuple[Response, int] | Response:
    found = scanning(current_app)
    if found is None:
        return _error(404, "not_found", "secret scanning alerts are not enabled on this server")
    address = request.remote_addr or "-"
    wait = services().limits.retry_after(REVOCATION, f"secret-scanning:{address}")  # AUTHSERVER_RATE_LIMIT_REVOCATION
    if wait is not None:
        response, status = _error(429, "temporarily_unavailable", f"too many alerts; try again in {wait} seconds")
        response.headers["Retry-After"] = str(wait)
        return response, status
    if (request.content_length or 0) > MAX_ALERT_BYTES:
        return _error(413, "request_entity_too_large", f"an alert is at most {MAX_ALERT_BYTES} bytes")
    body = request.get_data(cache=False)
    if len(body) > MAX_ALERT_BYTES:
        return _error(413, "request_entity_too_large", f"an alert is at most {MAX_ALERT_BYTES} bytes")
    identifier = request.headers.get(IDENTIFIER_HEADER)
    try:
        verify_alert(found.keys, identifier, request.headers.get(SIGNATURE_HEADER), body)
    except SignatureError as exc:
        return _error(401, "invalid_signature", str(exc))
    try:
        entries = parse_alert(body)
    except MalformedAlertError as exc:
        return _error(400, "invalid_request", str(exc))
    principal = Principal(
        kind="secret_scanner", id=(identifier or "").strip()[:120], source_address=request.remote_addr
    )
    verdicts = _judge(principal, entries)
    if found.sender is not None:
        now = services().clock.now()
        issuer = current_app.config["AUTHSERVER_ISSUER"]
        found.sender.post(leak_messages(verdicts, found.sender.settings, base_url=issuer, now=now))
        db.session.rollback()  # the reads above: hold no transaction once answered
    return jsonify([verdict.as_response() for verdict in verdicts])


def _judge(principal: Principal, entries: list[FoundToken]) -> list[Verdict]:
    """One unit of work for the whole alert; a concurrent change to one of its integrations (a version conflict,
    or SQLite's stale-snapshot "locked") is met by trying again on fresh state, as RFC 7009 revocation does."""
    for attempt in (1, 2):
        try:
            with unit_of_work():
                return report_leaks(principal, entries, verifier=services().verifier, now=services().clock.now())
        except (ConflictError, OperationalError):
            if attempt == 2:
                raise
            db.session.rollback()
    raise AssertionError("unreachable")


def _error(status: int, code: str, description: str) -> tuple[Response, int]:
    response = jsonify(error=code, error_description=description)
    response.headers["Cache-Control"] = "no-store"
    return response, status
