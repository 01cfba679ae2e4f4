"""The browser side of a user session: the cookie that carries the session id, and the checks every state-changing
request passes (same origin, and the session's CSRF token).

Shared by the admin UI and the JSON admin API, so both honour the same server-side session.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app, request

from . import user_sessions
from .services import services
from .unit_of_work import unit_of_work

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGNIN_NONCE_COOKIE = "authserver_signin"


def cookie_name() -> str:
    """Over HTTPS the ``__Host-`` prefix makes the browser refuse the cookie unless it is Secure, host-only and for
    path ``/``: a sibling subdomain cannot plant or overwrite it."""
    return "__Host-authserver_session" if _secure() else "authserver_session"


def now() -> datetime:
    return services().clock.now()


def current_session() -> user_sessions.ActiveSession | None:
    """The request's live session (one indexed read; callers keep the result for the rest of the request)."""
    with unit_of_work():  # a touched last-seen time is committed with the request's work, or on its own
        return user_sessions.find_session(request.cookies.get(cookie_name()), now=now(), idle_timeout=_idle_timeout())


def set_session_cookie(response, started: user_sessions.StartedSession) -> None:
    """Max-Age rather than Expires: relative to the browser's own clock, so it holds whatever that clock says."""
    lifetime = started.record.expires_at - started.record.created_at
    response.set_cookie(
        cookie_name(),
        started.session_id,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=_secure(),
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response) -> None:
    response.delete_cookie(cookie_name(), path="/", secure=_secure(), httponly=True, samesite="Lax")


def is_cross_site() -> bool:
    """True when the browser says the request came from another site (Fetch Metadata, then Origin). Browsers
    send at least one of them on every POST, and a page cannot forge either."""
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin not in _own_origins()


def has_valid_csrf(signed_in: user_sessions.ActiveSession, presented: object) -> bool:
    return user_sessions.is_valid_csrf(signed_in.session_id, presented)


# -- the sign-in form: no session yet, so its CSRF token is bound to a short-lived random nonce cookie ---------
def signin_nonce() -> str | None:
    return request.cookies.get(SIGNIN_NONCE_COOKIE)


def signin_token(nonce: str) -> str:
    return user_sessions.csrf_token(nonce)


def is_valid_signin_token(presented: object) -> bool:
    nonce = signin_nonce()
    if not nonce:
        return False
    return user_sessions.is_valid_csrf(nonce, presented)


def set_signin_nonce(response, nonce: str) -> None:
    response.set_cookie(
        SIGNIN_NONCE_COOKIE, nonce, max_age=3600, path="/signin", secure=_secure(), httponly=True, samesite="Strict"
    )


def clear_signin_nonce(response) -> None:
    response.delete_cookie(SIGNIN_NONCE_COOKIE, path="/signin", secure=_secure(), httponly=True, samesite="Strict")


def _secure() -> bool:
    return bool(current_app.config.get("SESSION_COOKIE_SECURE"))


def _idle_timeout() -> int:
    return int(current_app.config.get("AUTHSERVER_SESSION_IDLE_TIMEOUT", user_sessions.IDLE_TIMEOUT))


def _own_origins() -> set[str]:
    issuer = urlsplit(current_app.config["AUTHSERVER_ISSUER"])
    return {f"{issuer.scheme}://{issuer.netloc}", request.host_url.rstrip("/")}
