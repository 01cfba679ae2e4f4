"""What every admin page goes through: a signed-in user, same-origin plus the CSRF token on every change, the
page's security headers, and errors shown as pages (never a traceback)."""

from __future__ import annotations

import contextlib
import logging

from flask import g, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from .. import session_cookie
from ..accounts import list_accounts
from ..errors import DomainError, UnauthenticatedError
from ..extensions import db
from ..httpbase import describe_database_error
from ..principals import Principal
from ..unit_of_work import unit_of_work
from ..users import user_principal
from . import presenters
from .blueprint import bp

log = logging.getLogger("authserver")

PUBLIC_ENDPOINTS = frozenset({"admin_ui.signin"})

# Scripts and styles only from our own static files: no inline script can run, even if some text slipped through
# escaping. Forms may only post back to us; nothing may frame the pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.before_request
def require_signed_in_user():
    g.user = g.principal = g.csrf_token = None
    unsafe = request.method not in session_cookie.SAFE_METHODS
    if unsafe and session_cookie.is_cross_site():
        return refused("This form was sent from another site, so nothing was changed.")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    with unit_of_work():  # reading the session may note its use
        signed_in = session_cookie.current_session()
    if signed_in is None:
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("admin_ui.signin", next=target))
    if unsafe and not session_cookie.has_valid_csrf(signed_in, request.form.get("csrf_token")):
        return refused("This form has expired or did not come from this page. Reload the page and try again.")
    g.user = signed_in.user
    g.csrf_token = signed_in.csrf_token
    g.principal = user_principal(signed_in.user, request.remote_addr)
    return None


def current_principal() -> Principal:
    return g.principal


def refused(message: str):
    return render_template("error.html", status=403, title="Request refused", detail=message), 403


@bp.after_request
def page_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"  # pages show tenant data and, once, a token
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Not no-referrer: with it, browsers send "Origin: null" on our own form posts, and the origin check needs it.
    # Nothing secret is ever in a URL; other sites still get no referrer at all.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.context_processor
def page_context() -> dict:
    context = {"fmt": presenters, "csrf_token": g.get("csrf_token"), "user": g.get("user")}
    principal = g.get("principal")
    if principal is not None:
        context["account_tree"] = presenters.account_tree(list_accounts(principal))
        context["principal"] = principal
    return context


@bp.errorhandler(DomainError)
def domain_error_page(exc: DomainError):
    # A domain call's unit of work has already rolled back what it did.
    if isinstance(exc, UnauthenticatedError):
        return redirect(url_for("admin_ui.signin"))
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return render_template("error.html", status=exc.status, title=exc.title, detail=exc.detail), exc.status, headers


@bp.errorhandler(SQLAlchemyError)
def database_error_page(exc: SQLAlchemyError):
    """The database is away, locked, read-only or full: say so (503). The page is drawn without the account
    switcher, which would need the database again."""
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()
    g.pop("principal", None)
    detail = describe_database_error(exc)
    log.warning("database error on %s %s: %s (%s)", request.method, request.path, detail, exc.__class__.__name__)
    return (
        render_template(
            "error.html",
            status=503,
            title="Temporarily unavailable",
            detail=f"Nothing was changed: {detail}. Please try again in a moment.",
        ),
        503,
        {"Retry-After": "5"},
    )


@bp.errorhandler(HTTPException)
def http_error_page(exc: HTTPException):
    status = exc.code or 500
    return render_template("error.html", status=status, title=exc.name, detail=exc.description), status


@bp.errorhandler(Exception)
def unexpected_error_page(exc: Exception):
    request_id = g.get("request_id", "-")
    log.error(
        "unhandled %s on %s %s (request %s)",
        exc.__class__.__name__,
        request.method,
        request.path,
        request_id,
        exc_info=True,
    )
    db.session.rollback()
    return render_template(
        "error.html",
        status=500,
        title="Something went wrong",
        detail=f"An unexpected error happened. Request id: {request_id}",
    ), 500
