"""Check access: call registered v2 services' ping URLs with a token an admin pasted, and say what they answered.

    admin pastes a token ──> check_token ──> verify it here: ours, and of this integration? (else: say so, call nobody)
                                        ──> for each registered ping (enabled resource service, this account or every
                                            account, whose resource the token's ``aud`` admits)
                                              GET ping_url, Authorization: Bearer <token>
                                              pinned to the address checked as webhooks are (webhooks/destinations),
                                              short deadline, no redirects, at most MAX_ANSWER_BYTES read
                                        ──> 200: account, integration, scopes; 401/403: the RFC 6750 error in words

The token is a live credential: it is held in memory for the length of the request and sent only to URLs an operator
or account admin registered for a resource service, never to a URL typed on the check form; it is never stored,
logged or audited. A token of another integration is recognised before any call and named only as "another
integration". The check is rate-limited per user and per account (``check_rate``) so it is no fast token oracle.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from authserver_resource.compact_jws import MAX_TOKEN_LENGTH

from .errors import InvalidInputError, RateLimitedError
from .extensions import db
from .limits.rates import Rate, RateStore
from .models import ApiClient
from .resource_uris import MAX_RESOURCE_LENGTH, is_resource_uri
from .scopes import split_scopes
from .tokens import TokenVerifier, is_audience_of, load_state
from .webhooks.destinations import DestinationPolicy, DestinationRefusedError, resolve
from .webhooks.transport import pinned_connection

TIMEOUT = 3.0  # seconds, the whole call: connect, send, answer
MAX_ANSWER_BYTES = 16 * 1024
MAX_TARGETS = 5  # services called in one check; with more registered, the admin picks one
PER_USER = Rate(10, 60.0)  # checks per signed-in user: enough by hand, too few to test tokens at speed
PER_ACCOUNT = Rate(30, 60.0)  # checks per account, whoever runs them
USER_AGENT = "authserver-check-access/1"
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 section 2.1
_CHALLENGE_PARAM = re.compile(r'([a-z_]+)="([^"]{0,300})"')

# RFC 6750 section 3.1 error codes (and the kit's 503), in plain words.
MEANINGS = {
    "invalid_token": "The service does not accept this token: it is revoked, expired, replaced after a rotation's "
    "grace period, unused for too long, or its integration is disabled or deleted.",
    "insufficient_scope": "The token is valid, but its scopes do not include what this call needs.",
    "invalid_request": "The service could not read the token from the request (it is not a well-formed bearer token).",
    "temporarily_unavailable": "The service could not reach this authorization server to check the token, so it "
    "refused the call (it fails closed). The token may be fine: try again shortly.",
    None: "The service wants a bearer token and did not see one.",
}


def parse_ping_url(value: object, *, field: str = "ping_url") -> str | None:
    """A resource service's ping URL as stored: https (http only for a loopback host), no fragment, no credentials,
    at most 500 characters, like a resource URI. ``None``, empty or ``none`` clears it."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if not is_resource_uri(value):
        raise InvalidInputError(
            f"{field} must be an absolute https URL (http only for a loopback host) without a fragment, of at most "
            f"{MAX_RESOURCE_LENGTH} characters",
            field=field,
        )
    assert isinstance(value, str)
    return value


@dataclass(frozen=True)
class PingTarget:
    """A registered service the check may call."""

    client_id: str
    name: str
    ping_url: str
    resource: str | None


def ping_targets(account_id: str) -> list[PingTarget]:
    """Enabled resource services with a ping URL that may see this account's tokens: the account's own, and those
    registered for every account (a service bound to another account could not introspect them anyway)."""
    rows = db.session.scalars(
        select(ApiClient)
        .where(
            ApiClient.kind == "resource-service",
            ApiClient.ping_url.is_not(None),
            ApiClient.disabled_at.is_(None),
            ApiClient.deleted_at.is_(None),
            (ApiClient.account_id.is_(None)) | (ApiClient.account_id == account_id),
        )
        .order_by(ApiClient.name, ApiClient.client_id)
    )
    return [PingTarget(row.client_id, row.name, row.ping_url or "", row.resource) for row in rows]


def check_rate(store: RateStore, *, user_id: str, account_id: str, now: datetime) -> None:
    """Count one check against the user's and the account's budgets (in the database or Redis: every worker and
    instance counts into one place); refused with the seconds to wait."""
    moment = now.timestamp()
    for key, rate in (
        (f"rate:access_check:user:{user_id}", PER_USER),
        (f"rate:access_check:account:{account_id}", PER_ACCOUNT),
    ):
        wait = store.acquire(key, rate, moment)
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise RateLimitedError(f"too many access checks; try again in {seconds} seconds", retry_after=seconds)


def parse_token(value: object) -> str:
    """The pasted token: trimmed, a leading ``Bearer `` dropped, one well-formed RFC 6750 b64token."""
    text = value.strip() if isinstance(value, str) else ""
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    if not text:
        raise InvalidInputError("paste the access token to test", field="token")
    if len(text) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(text):
        raise InvalidInputError(
            "that is not an access token: paste the whole token, without quotes or line breaks", field="token"
        )
    return text


@dataclass(frozen=True)
class ServiceAnswer:
    """What one service said, in words for the page. ``outcome``: ok | refused | skipped | failed."""

    service: str
    outcome: str
    summary: str
    status: int | None = None
    error: str | None = None
    description: str | None = None
    account_id: str | None = None
    integration_id: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessCheck:
    """The whole answer. ``verdict``: tested | not_ours | other_integration | no_services."""

    verdict: str
    message: str
    answers: tuple[ServiceAnswer, ...] = ()
    token_status: str | None = None  # this server's record of the token (tokens.TokenState.status)
    token_scopes: tuple[str, ...] = ()
    effective_scopes: tuple[str, ...] = ()

    @property
    def narrowed(self) -> tuple[str, ...]:
        """Scopes the token was issued with that no longer apply (the integration's scopes were reduced)."""
        return tuple(sorted(set(self.token_scopes) - set(self.effective_scopes)))


def check_token(
    token: str,
    *,
    integration_id: str,
    account_id: str,
    targets: list[PingTarget],
    verifier: TokenVerifier,
    policy: DestinationPolicy,
    now: datetime,
    timeout: float = TIMEOUT,
) -> AccessCheck:
    """Check ``token`` (already ``parse_token``-ed) against the integration, then against each target."""
    claims = verifier.verify(token)
    if claims is None:
        return AccessCheck(
            "not_ours",
            "This is not an access token issued by this server: it may be mistyped or cut short, or signed by a key "
            "that has since been removed. No service was called.",
        )
    if claims.sub != integration_id or claims.account_id != account_id:
        return AccessCheck(
            "other_integration",
            "This token belongs to another integration, not this one. No service was called.",
        )
    state = load_state(claims.jti)
    status = state.status(now) if state is not None else "unknown"
    effective = tuple(sorted(state.effective_scopes())) if state is not None else ()
    base = AccessCheck(
        "tested",
        "",
        token_status=status,
        token_scopes=tuple(sorted(split_scopes(claims.scope))),
        effective_scopes=effective,
    )
    if not targets:
        return replace(
            base,
            verdict="no_services",
            message="No service has registered a ping URL for this account, so there is nothing to call. This "
            "token is of this integration; this server records it as " + status.replace("_", " ") + ".",
        )
    default_audience = verifier.audience
    answers = []
    for target in targets[:MAX_TARGETS]:
        if not is_audience_of(claims.aud, target.resource, default_audience):
            answers.append(
                ServiceAnswer(
                    target.name,
                    "skipped",
                    "Not called: this token is not meant for this service (wrong audience). Its integration is "
                    "limited to other services, and the service would refuse it with invalid_token.",
                    error="invalid_token",
                )
            )
            continue
        answers.append(_answer(target, ping(target.ping_url, token, policy, timeout=timeout), integration_id))
    return replace(base, message="Tested.", answers=tuple(answers))


# -- one call ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PingReply:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    problem: str | None = None  # why there is no usable answer (unreachable, refused address, too large...)


def ping(url: str, token: str, policy: DestinationPolicy, *, timeout: float = TIMEOUT) -> PingReply:
    """GET a registered ping URL with the token; never raises for network trouble. The address is checked (and the
    connection pinned to it) as for webhooks; redirects are not followed; the whole call has one deadline."""
    try:
        destination = resolve(url, policy)
    except DestinationRefusedError:
        return PingReply(
            None,
            problem="its ping URL's address is not one this server calls (loopback and private addresses need the "
            "operator's AUTHSERVER_WEBHOOK_ALLOW_HOSTS)",
        )
    connection = pinned_connection(destination, timeout)
    watchdog = threading.Timer(timeout, connection.close)  # a trickling answer is cut at the deadline
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "GET",
            destination.target,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": USER_AGENT},
        )
        response = connection.getresponse()
        body = response.read(MAX_ANSWER_BYTES + 1)
        headers = {name.lower(): value[:1000] for name, value in response.getheaders()}
        if len(body) > MAX_ANSWER_BYTES:
            return PingReply(response.status, headers, problem="its answer was larger than a ping's should be")
        return PingReply(response.status, headers, body)
    except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
        timed_out = not watchdog.is_alive() or isinstance(exc, TimeoutError)
        return PingReply(None, problem="it did not answer in time" if timed_out else "it could not be reached")
    finally:
        watchdog.cancel()
        connection.close()


def _answer(target: PingTarget, reply: PingReply, integration_id: str) -> ServiceAnswer:
    if reply.problem is not None:
        return ServiceAnswer(target.name, "failed", f"No answer to show: {reply.problem}.", status=reply.status)
    status = reply.status or 0
    if status == 200:
        body = _json(reply.body)
        account, integration, scopes = body.get("account_id"), body.get("integration_id"), body.get("scopes")
        if not isinstance(account, str) or not isinstance(integration, str) or not _is_text_list(scopes):
            return ServiceAnswer(
                target.name, "failed", "The service answered 200 but not with a ping's answer.", status=200
            )
        if integration != integration_id:
            return ServiceAnswer(target.name, "refused", "This token belongs to another integration.", status=200)
        assert isinstance(scopes, list)
        return ServiceAnswer(
            target.name,
            "ok",
            "The service accepts this token.",
            status=200,
            account_id=account[:100],
            integration_id=integration[:100],
            scopes=tuple(sorted(str(s)[:100] for s in scopes)),
        )
    if status in (400, 401, 403, 503):
        error, description = _bearer_error(reply)
        meaning = MEANINGS.get(error) if error in MEANINGS else None
        return ServiceAnswer(
            target.name,
            "refused",
            meaning or f"The service refused the call with HTTP {status}.",
            status=status,
            error=error,
            description=description,
        )
    if 300 <= status < 400:
        return ServiceAnswer(
            target.name, "failed", f"The service answered with a redirect (HTTP {status}), which is not followed."
        )
    return ServiceAnswer(target.name, "failed", f"The service answered HTTP {status}.", status=status)


def _bearer_error(reply: PingReply) -> tuple[str | None, str | None]:
    """RFC 6750 section 3: the error code and description, from ``WWW-Authenticate`` or else the JSON body."""
    params = dict(_CHALLENGE_PARAM.findall(reply.headers.get("www-authenticate", "")))
    body = _json(reply.body)
    error = params.get("error") or body.get("error")
    description = params.get("error_description") or body.get("error_description")
    error = error if isinstance(error, str) and re.fullmatch(r"[a-z_]{1,40}", error) else None
    description = description[:300] if isinstance(description, str) else None
    return error, description


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _is_text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
