"""Helpers for the admin UI's test-client tests: people, signing in, and the tokens a page carries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from authserver.users import create_user

PASSWORD = "correct horse battery"
COOKIE = "authserver_session"
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="(\d+)"')


def make_user(clock, account_id: str, email: str, role: str = "admin", password: str = PASSWORD):
    with unit_of_work():
        return create_user(OPERATOR, account_id=account_id, email=email, role=role, password=password, now=clock.now())


def form_token(html: str) -> str:
    match = _FORM_TOKEN.search(html)
    assert match, "the page has no CSRF token field"
    return match.group(1)


def version_field(html: str) -> str:
    match = _VERSION.search(html)
    assert match, "the page has no version field"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD, **extra):
    """Post the sign-in form the way a browser does: with the token from the form page."""
    page = client.get("/signin")
    return client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": form_token(page.text), **extra}
    )


def session_cookie(client, name: str = COOKIE) -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie is not None else None


@dataclass
class SignedIn:
    """A test client signed in as one user, with the CSRF token its pages carry."""

    client: object
    csrf: str

    def post(self, path: str, data: dict | None = None, **kwargs):
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)


def signed_in(app, email: str, password: str = PASSWORD) -> SignedIn:
    client = app.test_client()
    response = sign_in(client, email, password)
    assert response.status_code == 302, response.text
    return SignedIn(client, form_token(client.get("/settings/password").text))


ADMIN, MEMBER = "admin@agency.test", "member@agency.test"


def add_people(world, clock, *, member: bool = True) -> None:
    """An admin and a member of the world's agency (so the admin also administers its sub-account)."""
    make_user(clock, world.agency.account_id, ADMIN, role="admin")
    if member:
        make_user(clock, world.agency.account_id, MEMBER, role="member")


def introspect(client, world, token: str) -> dict:
    response = client.post("/oauth/introspect", data={"token": token}, headers=world.rs_headers)
    assert response.status_code == 200, response.text
    return response.get_json()


def detail_path(tenant) -> str:
    return f"/accounts/{tenant.account_id}/settings/integrations/{tenant.integration_id}"
