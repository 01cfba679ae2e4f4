"""RFC 7662 token introspection, on authlib's endpoint, with the database as the judge of liveness."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy.exc import SQLAlchemyError

from ..hotpath.fair_gate import NOT_GATED, WaitHook
from ..tokens import TokenState, VerifiedClaims, epoch, is_audience_of, load_state, record_end
from ..unit_of_work import unit_of_work
from .request_shape import FormRequestShape

log = logging.getLogger("authserver")


@dataclass(frozen=True)
class IntrospectedToken:
    claims: VerifiedClaims
    state: TokenState  # a token with no record is not introspected at all (query_token answers None)
    live: bool

    def is_expired(self) -> bool:
        return not self.live

    def is_revoked(self) -> bool:
        return self.state.revoked_at is not None


class TokenIntrospectionEndpoint(FormRequestShape, IntrospectionEndpoint):
    """Resource services ask "is this token active, and for what?".

    Anything not verifiably ours and live is exactly ``{"active": false}`` (section 2.2): unknown, malformed,
    expired, revoked, wrong signature, issuer, audience or algorithm.
    """

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def __init__(self, server, *, verifier, clock, activity, issuer: str):
        super().__init__(server)
        self.verifier = verifier
        self.clock = clock
        self.activity = activity  # None when activity tracking is switched off
        self.issuer = issuer

    def check_params(self, request, client):
        """Only ``token`` is required. ``token_type_hint`` is ignored whatever it says: an invalid hint must not
        change the answer (RFC 7009 section 2.1), and every token here is an access token anyway."""
        if "token" not in request.form:
            raise InvalidRequestError()

    def query_token(self, token_string, token_type_hint, wait: WaitHook = NOT_GATED):
        claims = self.verifier.verify(token_string)
        if claims is None:
            return None
        state = load_state(claims.jti, wait)
        if state is None or state.integration_id != claims.sub or not state.is_signed_by(claims.kid):
            return None
        if state.account_id != claims.account_id:
            return None  # resource services validating locally trust the claim: it must be the record's
        if claims.cnf_jkt != state.dpop_jkt:
            return None  # likewise the binding: a bound token's claims re-signed without cnf are not this token
        now = self.clock.now()
        recent = self.activity.recent_use(claims.jti) if self.activity is not None else None
        live = claims.is_current(now.timestamp()) and state.is_live(now, recent)
        ended = state.end_reached_at(now, recent) if not live and state.ended_at is None else None
        if ended is not None:
            _latch_end(claims.jti, ended)
        return IntrospectedToken(claims=claims, state=state, live=live)

    def authenticate_token(self, request, client):
        """authlib's steps (check the parameters, look the token up, check permission), with the request's ``wait``
        handed to the lookup; then, when the token is live, count the use (buffered: no database write here)."""
        self.check_params(request, client)
        form = request.form
        token = self.query_token(form["token"], form.get("token_type_hint"), request.wait)
        if token is None or not self.check_permission(token, client, request):
            return None
        if token.live and self.activity is not None:
            self.activity.record(token.claims.jti, client.client_id, self.clock.now())
        return token

    def check_permission(self, token, client, request):
        """A resource service bound to one account may only introspect that account's tokens; a token limited to
        named services (RFC 8707: ``aud`` is the list of their resource URIs, signed at issue) only by one of them."""
        if not is_audience_of(token.claims.aud, client.resource, self.verifier.audience):
            return False
        return client.account_id is None or client.account_id == token.state.account_id

    def introspect_token(self, token: IntrospectedToken) -> dict:
        """RFC 7662 section 2.2; a token bound to a DPoP key adds its ``cnf`` and is of type "DPoP" (RFC 9449
        section 6.2), so a resource service asks for a proof signed with that key."""
        claims, state = token.claims, token.state
        body = {
            "active": True,
            "scope": " ".join(sorted(state.effective_scopes())),
            "client_id": claims.client_id,
            "sub": claims.sub,
            "aud": claims.aud,
            "iss": self.issuer,
            "exp": _effective_exp(claims, state),
            "iat": claims.iat,
            "jti": claims.jti,
            "token_type": "Bearer" if state.dpop_jkt is None else "DPoP",
            "account_id": state.account_id,
            "integration_id": state.integration_id,
        }
        if state.dpop_jkt is not None:
            body["cnf"] = {"jkt": state.dpop_jkt}
        return body


def introspection_result(status: int, body: dict) -> str | None:
    """What an answered introspection came to, for metrics: "active" or "inactive" (from the body the caller was
    sent), or None when it was not answered 200 (the status then tells refused from error)."""
    if status != 200:
        return None
    return "active" if body.get("active") else "inactive"


def _latch_end(jti: str, ended_at: datetime) -> None:
    """Record the end this reader saw (the moment it fell), so no worker calls the token live again if a clock steps
    back. The answer is "inactive" either way: a failed write is logged, and the next reader tries again."""
    try:
        with unit_of_work():
            record_end(jti, ended_at)
    except SQLAlchemyError as exc:
        log.warning("could not record the end of token %s: %s", jti, exc.__class__.__name__)


def _effective_exp(claims: VerifiedClaims, state: TokenState) -> int:
    """The earliest known end: the JWT's exp or a scheduled end (grace deadline), so caches never outlive it."""
    if state.ends_at is not None:
        return min(claims.exp, epoch(state.ends_at))
    return claims.exp
