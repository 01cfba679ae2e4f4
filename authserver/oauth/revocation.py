"""RFC 7009 token revocation: an admin client of the owning account, or whoever holds the token."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import request as http_request

from ..domain_events import TokenRevocationRefused
from ..emitter import emit_refusal
from ..integrations import revoke_by_endpoint
from ..principals import Principal
from ..tokens import TokenState, load_state
from .request_shape import FormRequestShape


class TokenRevocationEndpoint(FormRequestShape, RevocationEndpoint):
    """Unknown, invalid and already-revoked tokens get 200 (section 2.2). A token of an account the caller does
    not administer is left alone and also gets 200, so the answer never confirms another tenant's token exists;
    the refused attempt is audited on the caller's own account, never on the token's (TokenRevocationRefused)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "token_possession"]

    def __init__(self, server, *, verifier, clock, admin_scope):
        super().__init__(server)
        self.verifier = verifier
        self.clock = clock
        self.admin_scope = admin_scope  # client account id -> accounts it administers

    def check_params(self, request, client):
        """Only ``token`` is required. ``token_type_hint`` is ignored whatever it says: an invalid hint must not
        change the answer (RFC 7009 section 2.1), and every token here is an access token anyway."""
        if "token" not in request.form:
            raise InvalidRequestError()

    def query_token(self, token_string, token_type_hint):
        claims = self.verifier.verify(token_string)
        if claims is None:
            return None
        state = load_state(claims.jti)
        if state is None or state.integration_id != claims.sub or not state.is_signed_by(claims.kid):
            return None
        return state

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        state = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if state is None:
            return None
        principal = self._principal(request, client, state)
        if client.kind == "token_holder" or principal.can_administer(state.account_id):
            return state
        emit_refusal(
            TokenRevocationRefused(
                actor=principal,
                now=self.clock.now(),
                target_type="token",
                target_id=state.jti,
                reason="not an admin of the token's account",
            )
        )
        return None  # the view's unit of work commits the audit entry with the (uninformative) 200

    def revoke_token(self, token, request):
        revoke_by_endpoint(self._principal(request, request.client, token), token.jti, now=self.clock.now())

    def _principal(self, request, client, state: TokenState) -> Principal:
        """The token's holder is known by what it holds: the audit trail names the token's integration (an id, never
        the token), so a self-revocation reads "token_holder:int_..." rather than an anonymous actor."""
        address = http_request.remote_addr
        if client.kind == "token_holder":
            return Principal(kind="token_holder", id=state.integration_id, source_address=address)
        return Principal(
            kind="admin_client",
            id=client.client_id,
            admin_of=self.admin_scope(client.account_id),
            source_address=address,
            account_id=client.account_id,
        )
