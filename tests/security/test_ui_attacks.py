"""The admin UI under attack from a browser: cross-site requests (CSRF) with a live session, stored and
reflected script (XSS), open redirects after sign-in, session fixation and replay, user enumeration and
password guessing. Spoken to over HTTP exactly as a browser would, cookies and all."""

from __future__ import annotations

import re

import pytest

from .conftest import PASSWORD, Browser, run_cli

EVIL = "https://evil.example"


def page(target, integration_id: str | None = None) -> str:
    base = f"/accounts/{target.agency.account_id}/settings/integrations"
    return base if integration_id is None else f"{base}/{integration_id}"


@pytest.fixture(scope="module")
def admin(target) -> Browser:
    return target.browser("agency_admin")


def integration_status(target, integration_id: str) -> str:
    return target.agency.request("GET", f"/integrations/{integration_id}").json()["status"]


# -- CSRF -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.127.0.0.1"},
    ],
    ids=["foreign_origin", "fetch_metadata_cross_site", "null_origin", "same_site_sibling"],
)
def test_cross_site_form_post_is_refused_even_with_a_valid_session_and_token(target, admin, headers):
    integration = target.agency.create_integration()
    token = admin.page_csrf_token(page(target))
    response = admin.post(f"{page(target, integration['id'])}/disable", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 403
    assert integration_status(target, integration["id"]) == "active"


@pytest.mark.parametrize("token", [None, "", "forged-token", "A" * 5000])
def test_form_post_without_the_sessions_csrf_token_is_refused(target, admin, token):
    integration = target.agency.create_integration()
    data = {} if token is None else {"csrf_token": token}
    response = admin.post(f"{page(target, integration['id'])}/disable", data=data, headers={"Origin": target.url})
    assert response.status_code == 403
    assert integration_status(target, integration["id"]) == "active"


def test_csrf_token_of_another_session_is_refused(target, admin):
    integration = target.agency.create_integration()
    stranger = target.browser("other_admin")
    foreign_token = stranger.page_csrf_token(f"/accounts/{target.other.account_id}/settings/integrations")
    response = admin.post(
        f"{page(target, integration['id'])}/disable", data={"csrf_token": foreign_token}, headers={"Origin": target.url}
    )
    assert response.status_code == 403
    assert integration_status(target, integration["id"]) == "active"


def test_json_api_with_a_session_cookie_needs_the_csrf_header(target, admin):
    path = f"/api/accounts/{target.agency.account_id}/integrations"
    body = '{"name": "planted by csrf", "scopes": ["contacts.readonly"]}'
    for headers in (
        {"Content-Type": "application/json"},
        {"Content-Type": "text/plain", "Origin": EVIL},
        {"Content-Type": "application/json", "X-CSRF-Token": "forged"},
    ):
        response = admin.request("POST", path, data=body, headers=headers)
        # A cross-site "simple" request (text/plain) is refused before anything reads it: 415, the API reads JSON only.
        expected = 415 if headers["Content-Type"] == "text/plain" else 403
        assert response.status_code == expected, response.text
    names = [
        i["name"]
        for i in target.agency.request("GET", f"/accounts/{target.agency.account_id}/integrations").json()[
            "integrations"
        ]
    ]
    assert "planted by csrf" not in names


def test_login_csrf_sign_in_without_the_forms_nonce_is_refused(target):
    """A page elsewhere cannot sign the victim's browser in to the attacker's account."""
    attacker = Browser(target.server)
    token = attacker.signin_form_token()  # the attacker's token, bound to the attacker's nonce cookie
    victim = Browser(target.server)
    response = victim.post(
        "/signin", data={"email": target.users["other_admin"], "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400
    assert not [c for c in victim.session.cookies if "session" in c.name]


# -- XSS --------------------------------------------------------------------------------------------------------
SCRIPT = '<script>alert("xss")</script>'
ATTRIBUTE = '"><img src=x onerror=alert(1)>'


def test_stored_script_in_an_integration_name_and_description_is_escaped_on_every_page(target, admin):
    created = target.agency.request(
        "POST",
        f"/accounts/{target.agency.account_id}/integrations",
        json={"name": SCRIPT, "description": ATTRIBUTE, "scopes": ["contacts.readonly"]},
    )
    assert created.status_code == 201
    integration_id = created.json()["id"]
    for path in (page(target), page(target, integration_id), f"{page(target, integration_id)}/edit"):
        response = admin.get(path)
        assert response.status_code == 200, path
        assert SCRIPT not in response.text and "<img src=x" not in response.text
        assert "&lt;script&gt;alert(" in response.text  # shown, as text
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_reflected_script_in_the_sign_in_email_is_escaped(target):
    browser = Browser(target.server)
    token = browser.signin_form_token()
    email = f"{ATTRIBUTE}{SCRIPT}@x.example"
    response = browser.post("/signin", data={"email": email, "password": "wrong password", "csrf_token": token})
    assert response.status_code == 400
    assert SCRIPT not in response.text and "<img src=x" not in response.text


def test_reflected_script_in_the_next_parameter_is_escaped(target):
    browser = Browser(target.server)
    response = browser.get("/signin", params={"next": f"/{ATTRIBUTE}{SCRIPT}"})
    assert response.status_code == 200
    assert SCRIPT not in response.text and "<img src=x" not in response.text


# -- redirects and sessions -------------------------------------------------------------------------------------
OPEN_REDIRECTS = {
    "protocol_relative": "//evil.example",
    "absolute": "https://evil.example/",
    "backslash": "/\\evil.example",
    "tab_hidden_slash": "/\t/evil.example",
    "newline_hidden_slash": "/\n/evil.example",
    "javascript_url": "javascript:alert(1)",
    "triple_slash": "///evil.example",
}


@pytest.mark.parametrize("target_url", OPEN_REDIRECTS.values(), ids=OPEN_REDIRECTS.keys())
def test_sign_in_never_redirects_to_another_site(target, target_url):
    browser = Browser(target.server)
    token = browser.signin_form_token()
    response = browser.post(
        "/signin",
        data={"email": target.users["agency_member"], "password": PASSWORD, "csrf_token": token, "next": target_url},
    )
    assert response.status_code in (302, 303), response.text
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location


def test_session_cookie_is_http_only_same_site_and_host_wide(target):
    browser = Browser(target.server)
    token = browser.signin_form_token()
    response = browser.post(
        "/signin", data={"email": target.users["agency_member"], "password": PASSWORD, "csrf_token": token}
    )
    cookie = next(v for k, v in response.raw.headers.items() if k.lower() == "set-cookie" and "session" in v)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_planted_session_cookie_is_not_adopted_at_sign_in(target):
    """Session fixation: a cookie value chosen by the attacker before sign-in is worth nothing after it."""
    browser = Browser(target.server)
    browser.session.cookies.set("authserver_session", "attacker-chosen-value", domain="127.0.0.1", path="/")
    response = browser.sign_in(target.users["agency_member"])
    issued = response.cookies.get("authserver_session")
    assert issued and issued != "attacker-chosen-value"
    replay = Browser(target.server)
    replay.session.cookies.set("authserver_session", "attacker-chosen-value")
    assert replay.get(page(target)).status_code in (302, 303)


def test_a_copied_cookie_stops_working_at_sign_out(target):
    browser = target.browser("agency_member")
    stolen = browser.session.cookies.get("authserver_session")
    token = browser.page_csrf_token(page(target))
    signed_out = browser.post("/signout", data={"csrf_token": token}, headers={"Origin": target.url})
    assert signed_out.status_code in (302, 303)
    thief = Browser(target.server)
    thief.session.cookies.set("authserver_session", stolen)
    assert thief.get(page(target)).status_code in (302, 303)
    assert thief.request("GET", "/api/accounts").status_code == 401


def test_pages_cannot_be_framed(target, admin):
    for response in (Browser(target.server).get("/signin"), admin.get(page(target))):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# -- guessing ---------------------------------------------------------------------------------------------------
def test_unknown_email_and_wrong_password_look_the_same(target):
    answers = []
    for email in (target.users["agency_member"], "nobody@nowhere.example"):
        browser = Browser(target.server)
        token = browser.signin_form_token()
        response = browser.post("/signin", data={"email": email, "password": "not the password", "csrf_token": token})
        text = re.sub(r'name="csrf_token" value="[^"]*"', "", response.text.replace(email, "EMAIL"))
        answers.append((response.status_code, text))
    assert answers[0] == answers[1]


def test_login_brute_force_on_one_account_is_429_with_retry_after_even_for_the_right_password(target):
    email = "brute-force-victim@agency.example"
    run_cli(
        target.server,
        (
            [
                "user",
                "create",
                "--account",
                target.agency.account_id,
                "--email",
                email,
                "--role",
                "admin",
                "--password-stdin",
                "--json",
            ],
            PASSWORD + "\n",
        ),
    )
    browser = Browser(target.server)
    for attempt in range(5):
        token = browser.signin_form_token()
        response = browser.post("/signin", data={"email": email, "password": f"guess {attempt}", "csrf_token": token})
        assert response.status_code == 400
    for password in ("guess 6", PASSWORD):
        token = browser.signin_form_token()
        response = browser.post("/signin", data={"email": email, "password": password, "csrf_token": token})
        assert response.status_code == 429
        assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
        assert not [c for c in browser.session.cookies if "session" in c.name]
    # Another account is not locked by it.
    assert target.browser("agency_member").get(page(target)).status_code == 200
