"""Admin UI sessions: real server-side sessions that sign-in renews and sign-out or a password change ends."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from authserver import create_app, user_sessions
from authserver.database import prepare
from authserver.extensions import db
from authserver.models import UserSession
from tests.factories import make_account
from tests.support.admin_ui import COOKIE, PASSWORD, form_token, make_user, session_cookie, sign_in, signed_in


@pytest.fixture
def account(app, clock):
    return make_account(clock, name="Acme")


@pytest.fixture
def admin(account, clock):
    return make_user(clock, account.id, "admin@acme.test")


def test_sign_in_sets_an_httponly_samesite_lax_cookie_and_stores_only_its_digest(client, admin):
    response = sign_in(client, "admin@acme.test")
    assert response.status_code == 302
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header  # plain http is only allowed on loopback
    session_id = session_cookie(client)
    row = db.session.scalars(select(UserSession)).one()
    assert row.id_digest == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in repr([getattr(row, c.key) for c in UserSession.__table__.columns])


def test_over_https_the_cookie_is_secure_and_host_only(app_config, clock, tmp_path):
    https = create_app(
        app_config | {"AUTHSERVER_ISSUER": "https://auth.example.com", "INSTANCE_PATH": tmp_path / "https"}, clock=clock
    )
    prepare(https)
    with https.app_context():
        make_user(clock, make_account(clock).id, "admin@acme.test")
        client = https.test_client()
        page = client.get("/signin", base_url="https://auth.example.com")
        response = client.post(
            "/signin",
            base_url="https://auth.example.com",
            headers={"Origin": "https://auth.example.com"},
            data={"email": "admin@acme.test", "password": PASSWORD, "csrf_token": form_token(page.text)},
        )
        header = next(h for h in response.headers.getlist("Set-Cookie") if "authserver_session=" in h)
        assert header.startswith("__Host-authserver_session=")
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
        db.session.remove()
        db.engine.dispose()


def test_sign_in_issues_a_new_session_id_and_ends_the_one_the_browser_had(app, client, admin):
    sign_in(client, "admin@acme.test")
    first = session_cookie(client)
    browser = app.test_client()
    page = browser.get("/signin")
    browser.set_cookie(COOKIE, first)  # a session id the browser already carried (or one planted in it)
    response = browser.post(
        "/signin", data={"email": "admin@acme.test", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert response.status_code == 302
    second = session_cookie(browser)
    assert second and second != first
    assert client.get("/").headers["Location"].startswith("/signin")


def test_sign_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(app, admin, account):
    browser = signed_in(app, "admin@acme.test")
    copied = session_cookie(browser.client)
    thief = app.test_client()
    thief.set_cookie(COOKIE, copied)
    assert thief.get(f"/accounts/{account.id}/settings/integrations").status_code == 200

    response = browser.post("/signout")
    assert response.status_code == 302 and "signed_out=1" in response.headers["Location"]
    assert session_cookie(browser.client) is None

    assert thief.get(f"/accounts/{account.id}/settings/integrations").headers["Location"].startswith("/signin")
    assert thief.get("/api/accounts").status_code == 401  # the JSON API honours the same session


def test_password_change_ends_every_session_and_keeps_this_browser_signed_in_afresh(app, admin, account):
    laptop, phone = signed_in(app, "admin@acme.test"), signed_in(app, "admin@acme.test")
    old_laptop_cookie = session_cookie(laptop.client)

    response = laptop.post(
        "/settings/password",
        {"current_password": PASSWORD, "new_password": "a brand new one", "confirm_password": "a brand new one"},
    )
    assert response.status_code == 302
    assert session_cookie(laptop.client) != old_laptop_cookie
    assert laptop.get(f"/accounts/{account.id}/settings/integrations").status_code == 200
    assert phone.get(f"/accounts/{account.id}/settings/integrations").status_code == 302
    replay = app.test_client()
    replay.set_cookie(COOKIE, old_laptop_cookie)
    assert replay.get("/").headers["Location"].startswith("/signin")

    assert sign_in(app.test_client(), "admin@acme.test", PASSWORD).status_code == 400
    assert sign_in(app.test_client(), "admin@acme.test", "a brand new one").status_code == 302


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (
            {"current_password": "wrong password", "new_password": "long enough!", "confirm_password": "long enough!"},
            "current_password",
        ),
        ({"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"}, "new_password"),
        (
            {"current_password": PASSWORD, "new_password": "long enough!", "confirm_password": "long enougH!"},
            "confirm_password",
        ),
    ],
)
def test_password_change_errors_show_next_to_the_field_and_change_nothing(app, admin, form, field):
    browser = signed_in(app, "admin@acme.test")
    response = browser.post("/settings/password", form)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert sign_in(app.test_client(), "admin@acme.test").status_code == 302


def test_a_session_ends_after_two_idle_hours(app, admin, clock):
    browser = signed_in(app, "admin@acme.test")
    clock.advance(user_sessions.IDLE_TIMEOUT - 60)
    assert browser.get("/").status_code == 302 and "/signin" not in browser.get("/").headers["Location"]
    clock.advance(user_sessions.IDLE_TIMEOUT)
    assert browser.get("/").headers["Location"].startswith("/signin")


def test_a_session_ends_after_twelve_hours_however_active(app, admin, clock):
    browser = signed_in(app, "admin@acme.test")
    for _ in range(user_sessions.LIFETIME // 3600 - 1):
        clock.advance(3600)
        assert "/signin" not in browser.get("/").headers["Location"]
    clock.advance(3600)
    assert browser.get("/").headers["Location"].startswith("/signin")


def test_wrong_password_and_unknown_email_get_the_same_answer(client, admin):
    wrong = sign_in(client, "admin@acme.test", "not the password")
    unknown = sign_in(client, "nobody@acme.test", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    assert "The email or password is not correct." in wrong.text
    assert "The email or password is not correct." in unknown.text
    assert session_cookie(client) is None


def test_the_sign_in_form_is_refused_without_its_own_token(client, admin):
    """Login CSRF: another site must not be able to sign a victim's browser into the attacker's account."""
    response = client.post("/signin", data={"email": "admin@acme.test", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert session_cookie(client) is None


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_to_another_site(client, admin, target):
    response = sign_in(client, "admin@acme.test", next=target)
    assert response.headers["Location"] == "/"


def test_sign_in_returns_to_the_page_that_asked_for_it(client, admin, account):
    page = f"/accounts/{account.id}/settings/integrations"
    assert client.get(page).headers["Location"] == f"/signin?next={page}"
    assert sign_in(client, "admin@acme.test", next=page).headers["Location"] == page
