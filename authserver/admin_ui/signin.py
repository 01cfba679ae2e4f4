"""Signing in and out, and changing one's password: the only pages that create or end sessions."""

from __future__ import annotations

import math
import secrets

from flask import current_app, flash, g, redirect, render_template, request, url_for

from .. import session_cookie, user_sessions
from ..accounts import list_accounts
from ..errors import InvalidInputError
from ..services import services
from ..unit_of_work import unit_of_work
from ..users import authenticate_user, change_password, rehash_password
from . import presenters
from .blueprint import bp
from .guard import current_principal

MAX_EMAIL, MAX_PASSWORD = 320, 1024


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    if request.method == "GET":
        with unit_of_work():  # reading the session may note its use
            signed_in = session_cookie.current_session()
        if signed_in is not None:
            return redirect(_next_page())
        notice = "You are signed out." if request.args.get("signed_out") else None
        return _signin_form(notice=notice)
    email = request.form.get("email", "")[:MAX_EMAIL].strip()
    password = request.form.get("password", "")[:MAX_PASSWORD]
    if not session_cookie.is_valid_signin_token(request.form.get("csrf_token")):
        return _signin_form(email=email, error="This sign-in form expired. Please try again.", status=400)
    limiter = services().signin_limiter
    now, address = session_cookie.now(), request.remote_addr
    # Counted before the password is checked, in one step shared by every worker: concurrent guesses can't slip past.
    wait = limiter.try_attempt(email=email, address=address, now=now)
    if wait is not None:
        response = _signin_form(email=email, status=429, error=f"Too many failed sign-ins. {_try_again_in(wait)}")
        response.headers["Retry-After"] = str(wait)
        return response
    user = authenticate_user(email, password) if email and password else None
    if user is None:
        return _signin_form(email=email, error="The email or password is not correct.", status=400)
    limiter.record_success(email=email, address=address, now=now)
    with unit_of_work():
        rehash_password(user, password)  # an old scrypt hash becomes argon2id in this sign-in's transaction
        started = user_sessions.start_session(
            user,
            now=now,
            replacing=request.cookies.get(session_cookie.cookie_name()),
            lifetime=int(current_app.config.get("AUTHSERVER_SESSION_LIFETIME", user_sessions.LIFETIME)),
        )
    response = redirect(_next_page())
    session_cookie.set_session_cookie(response, started)
    session_cookie.clear_signin_nonce(response)
    return response


@bp.post("/signout")
def signout():
    with unit_of_work():
        user_sessions.end_session(request.cookies.get(session_cookie.cookie_name()), now=session_cookie.now())
    response = redirect(url_for("admin_ui.signin", signed_out=1))
    session_cookie.clear_session_cookie(response)
    return response


@bp.route("/settings/password", methods=["GET", "POST"])
def password():
    user = g.user
    errors: dict[str, str] = {}
    if request.method == "POST":
        new = request.form.get("new_password", "")[:MAX_PASSWORD]
        if new != request.form.get("confirm_password", "")[:MAX_PASSWORD]:
            errors["confirm_password"] = "The two new passwords do not match."
        else:
            now = session_cookie.now()
            # The current password is a secret a stolen session could guess: the sign-in limits count its checks.
            limiter = services().signin_limiter
            wait = limiter.try_attempt(email=user.email, address=request.remote_addr, now=now)
            if wait is not None:
                errors["current_password"] = f"Too many wrong passwords. {_try_again_in(wait)}"
                response = current_app.make_response(
                    (render_template("password.html", errors=errors, other_sessions=0), 429)
                )
                response.headers["Retry-After"] = str(wait)
                return response
            try:
                with unit_of_work():  # the new password, every session ended and this browser's new one: together
                    change_password(
                        user,
                        current_password=request.form.get("current_password", "")[:MAX_PASSWORD],
                        new_password=new,
                        now=now,
                    )
                    # Every session just ended, this one included; this browser carries on with a brand-new one.
                    started = user_sessions.start_session(user, now=now)
            except InvalidInputError as exc:
                errors[exc.field or "form"] = exc.detail[:1].upper() + exc.detail[1:] + "."
                if exc.field != "current_password":
                    limiter.record_success(email=user.email, address=request.remote_addr, now=now)
            else:
                limiter.record_success(email=user.email, address=request.remote_addr, now=now)
                flash("Your password was changed. Every other browser was signed out.", "success")
                response = redirect(url_for("admin_ui.index"))
                session_cookie.set_session_cookie(response, started)
                return response
    other_sessions = max(user_sessions.live_session_count(user.id, session_cookie.now()) - 1, 0)
    return render_template("password.html", errors=errors, other_sessions=other_sessions), 400 if errors else 200


@bp.get("/")
def index():
    entries = presenters.account_tree(list_accounts(current_principal()))
    if not entries:
        return render_template("no_accounts.html")
    return redirect(url_for("admin_ui.integration_list", account_id=entries[0].account.id))


@bp.get("/accounts/<account_id>")
def account_home(account_id: str):
    return redirect(url_for("admin_ui.integration_list", account_id=account_id))


def _try_again_in(wait: int) -> str:
    minutes = math.ceil(wait / 60)
    return f"Try again in {minutes} minute{'' if minutes == 1 else 's'}."


def _signin_form(*, email: str = "", error: str | None = None, notice: str | None = None, status: int = 200):
    nonce = session_cookie.signin_nonce() or secrets.token_urlsafe(32)
    body = render_template(
        "signin.html",
        email=email,
        error=error,
        notice=notice,
        signin_token=session_cookie.signin_token(nonce),
        next=_safe_next(),
    )
    response = current_app.make_response((body, status))
    session_cookie.set_signin_nonce(response, nonce)
    return response


def _safe_next() -> str | None:
    """Only a path on this server: never an open redirect to another site."""
    target = request.values.get("next") or ""
    # Browsers drop tabs and newlines from URLs ("/\t/evil.example" is "//evil.example"): no controls, no spaces.
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in target):
        return None
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and len(target) < 500:
        return target
    return None


def _next_page() -> str:
    return _safe_next() or url_for("admin_ui.index")
