"""Hostile input anywhere gets a clear 4xx, never a 500 (issue 13, section 4), over HTTP against real servers on
each storage backend: huge, negative, fractional and textual numbers in every duration and window; request
bodies over the size limit however they are framed; repeated OAuth parameters and foreign content types at the
protocol endpoints; and an ``Allow`` header on every 405.

Each server is ``authserver run`` (werkzeug), seeded through the real CLI; the size limit is also checked under
``authserver serve`` (granian), whose request framing differs.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import BACKENDS
from tests.factories import basic
from tests.support.databases import ThrowawayPostgres, postgres_available
from tests.support.servers import AuthServerProcess, make_authserver, wait_for_http

from .conftest import PASSWORD, Browser, remember_response, run_cli, start_together

TIMEOUT = 30
LIMIT = 1024 * 1024  # AUTHSERVER_MAX_REQUEST_BYTES' default


@dataclass
class Live:
    server: AuthServerProcess
    backend: str
    account_id: str
    admin: dict
    service: tuple[str, str]
    v1_key_id: str

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = self.admin | kwargs.pop("headers", {})
        return remember_response(
            requests.request(method, f"{self.server.url}/api{path}", headers=headers, timeout=TIMEOUT, **kwargs)
        )

    def integration_with_token(self) -> str:
        created = self.api(
            "POST",
            f"/accounts/{self.account_id}/integrations",
            json={"name": "hostile numbers", "scopes": ["contacts.readonly"]},
        )
        assert created.status_code == 201, created.text
        issued = self.api("POST", f"/integrations/{created.json()['id']}/tokens", json={})
        assert issued.status_code == 201, issued.text
        return created.json()["id"]

    def token(self) -> str:
        issued = self.api("POST", f"/integrations/{self.integration_with_token()}/rotate", json={"mode": "now"})
        assert issued.status_code == 201, issued.text
        return issued.json()["token"]


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    database = None
    extra = {}
    if request.param == "postgresql":
        if not postgres_available():
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
        database = ThrowawayPostgres()
        extra["DATABASE_URL"] = database.url
    server = make_authserver(
        tmp_path_factory.mktemp(f"hostile-{request.param}"),
        AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        AUTHSERVER_WEBHOOK_ALLOW_HTTP="on",
        **extra,
    )
    try:
        account, admin, service, _, key = run_cli(
            server,
            (["account", "create", "--name", "Hostile", "--json"], None),
            (["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
            (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
            (
                [
                    "user",
                    "create",
                    "--account",
                    "{0[id]}",
                    "--email",
                    "admin@hostile.example",
                    "--role",
                    "admin",
                    "--password-stdin",
                    "--json",
                ],
                PASSWORD + "\n",
            ),
            (["v1-key", "create", "--account", "{0[id]}", "--json"], None),
        )
        start_together(server)
        yield Live(
            server=server,
            backend=request.param,
            account_id=account["id"],
            admin=basic(admin["client_id"], admin["client_secret"]),
            service=(service["client_id"], service["client_secret"]),
            v1_key_id=key["id"],
        )
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        if database is not None:
            database.drop()


def assert_problem_naming(response: requests.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


# -- numbers ------------------------------------------------------------------------------------------------
# Each value must be refused with a 400 naming the field: beyond any duration the server keeps (and beyond what
# a datetime or a 32-bit database integer holds), below one, not a whole number, or not a number at all.
HOSTILE_NUMBERS = {
    "10^15": 10**15,
    "10^30": 10**30,
    "beyond_postgres_integer": 3_000_000_000,
    "beyond_a_datetime": 10**12,
    "negative": -1,
    "negative_huge": -(10**30),
    "zero": 0,
    "fraction": 1.5,
    "float_huge": 1e300,
    "numeric_text": "1000000000000000",
    "exponent_text": "1e30",
    "huge_duration_text": "999999999w",
    "true": True,
    "list": [3600],
}

# (method, path template, body, field): every operation that takes a duration or window. ``{integration}`` is a
# fresh integration with a live token, ``{account}`` the admin's account, ``{key}`` a v1 key.
OPERATIONS = {
    "rotate_grace": ("POST", "/integrations/{integration}/rotate", {"mode": "later"}, "grace"),
    "rotate_expires_in": ("POST", "/integrations/{integration}/rotate", {"mode": "now"}, "expires_in"),
    "expire_in": ("POST", "/integrations/{integration}/expire", {}, "in"),
    "generate_expires_in": ("POST", "/integrations/{integration}/tokens", {}, "expires_in"),
    "create_inactivity_window": (
        "POST",
        "/accounts/{account}/integrations",
        {"name": "n", "scopes": ["contacts.readonly"]},
        "inactivity_window",
    ),
    "update_inactivity_window": ("PATCH", "/integrations/{integration}", {}, "inactivity_window"),
    "account_max_token_lifetime": ("PATCH", "/accounts/{account}", {}, "max_token_lifetime"),
    "v1_key_overlap": ("POST", "/v1-keys/{key}/migrate", {}, "overlap"),
}


@pytest.fixture(scope="module")
def integration_id(live) -> str:
    return live.integration_with_token()


@pytest.mark.parametrize("value", HOSTILE_NUMBERS.values(), ids=HOSTILE_NUMBERS.keys())
@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
def test_hostile_numbers_in_durations_and_windows_are_400_naming_the_field(live, integration_id, operation, value):
    method, path, body, field = operation
    path = path.format(integration=integration_id, account=live.account_id, key=live.v1_key_id)
    response = live.api(method, path, json=body | {field: value})
    assert_problem_naming(response, field)


def test_the_longest_accepted_duration_still_works_and_one_second_more_is_refused(live):
    """The bound is one constant for every field: at it the operation goes through, past it the field is named."""
    limit = 50 * 365 * 86400
    at_limit = live.api("PATCH", f"/accounts/{live.account_id}", json={"max_token_lifetime": limit})
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["max_token_lifetime"] == limit
    assert_problem_naming(
        live.api("PATCH", f"/accounts/{live.account_id}", json={"max_token_lifetime": limit + 1}), "max_token_lifetime"
    )
    created = live.api(
        "POST",
        f"/accounts/{live.account_id}/integrations",
        json={"name": "long", "scopes": ["contacts.readonly"], "inactivity_window": limit},
    )
    assert created.status_code == 201, created.text
    assert created.json()["inactivity_window"] == limit


def test_an_account_with_the_longest_lifetime_still_issues_tokens(live):
    live.api("PATCH", f"/accounts/{live.account_id}", json={"max_token_lifetime": "2600w"})
    created = live.api(
        "POST", f"/accounts/{live.account_id}/integrations", json={"name": "issues", "scopes": ["contacts.readonly"]}
    )
    issued = live.api("POST", f"/integrations/{created.json()['id']}/tokens", json={})
    assert issued.status_code == 201, issued.text


@pytest.mark.parametrize("literal", ["1" + "0" * 30, "1e400", "-1e400", "1E+30", "NaN", "Infinity"])
def test_numbers_json_cannot_hold_exactly_are_400(live, integration_id, literal):
    response = live.api(
        "POST",
        f"/integrations/{integration_id}/expire",
        data=f'{{"in": {literal}}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"


QUERY_NUMBERS = {
    "audit_before_id_beyond_postgres_integer": ("/accounts/{account}/audit", "before_id", str(2**31)),
    "audit_before_id_huge": ("/accounts/{account}/audit", "before_id", "9" * 18),
    "deliveries_limit_superscript": ("/webhooks/{subscription}/deliveries", "limit", "\u00b2"),
    "deliveries_limit_huge": ("/webhooks/{subscription}/deliveries", "limit", "9" * 30),
    "feed_cursor_beyond_postgres_integer": ("/oauth/events", "after", str(2**31)),
    "feed_cursor_huge": ("/oauth/events", "after", "1e18"),
}


@pytest.fixture(scope="module")
def subscription_id(live) -> str:
    created = live.api(
        "POST",
        f"/accounts/{live.account_id}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["token.revoked"]},
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


@pytest.mark.parametrize("query", QUERY_NUMBERS.values(), ids=QUERY_NUMBERS.keys())
def test_numbers_in_query_strings_beyond_what_the_database_holds_are_400(live, subscription_id, query):
    """Ids and cursors are INTEGER columns, 32-bit on PostgreSQL: a bigger number is refused, not sent to the
    database to fail there (a 503 that blames the database, or a 500)."""
    path, name, value = query
    path = path.format(account=live.account_id, subscription=subscription_id)
    if path.startswith("/oauth/"):
        response = requests.get(f"{live.server.url}{path}", params={name: value}, auth=live.service, timeout=TIMEOUT)
        oauth_error(response, 400, "invalid_request")
    else:
        assert_problem_naming(live.api("GET", path, params={name: value}), name)


# -- the protocol endpoints ---------------------------------------------------------------------------------
def oauth_error(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


REPEATED = {
    "token": "token={token}&token=garbage",
    "token, same value twice": "token={token}&token={token}",
    "token_type_hint": "token={token}&token_type_hint=access_token&token_type_hint=refresh_token",
    "client_id": "token={token}&client_id={client_id}&client_id={client_id}&client_secret={secret}",
    "client_secret": "token={token}&client_id={client_id}&client_secret={secret}&client_secret={secret}",
}


@pytest.mark.parametrize("body", REPEATED.values(), ids=REPEATED.keys())
@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
def test_a_repeated_oauth_parameter_is_400_invalid_request(live, path, body):
    """RFC 6749 section 3.1: request parameters MUST NOT be included more than once."""
    client_id, secret = live.service if path == "/oauth/introspect" else (None, None)
    token = live.token()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if "client_secret" not in body:
        headers |= basic(*live.service) if path == "/oauth/introspect" else {}
    response = requests.post(
        f"{live.server.url}{path}",
        timeout=TIMEOUT,
        headers=headers,
        data=body.format(token=token, client_id=client_id, secret=secret),
    )
    oauth_error(response, 400, "invalid_request")
    assert (
        requests.post(
            f"{live.server.url}/oauth/introspect", data={"token": token}, auth=live.service, timeout=TIMEOUT
        ).json()["active"]
        is True
    )  # nothing was revoked


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
def test_a_multipart_body_is_400_invalid_request(live, path):
    """RFC 7662 section 2.1 and RFC 7009 section 2.1: the parameters come as application/x-www-form-urlencoded."""
    token = live.token()
    response = requests.post(
        f"{live.server.url}{path}", files={"token": (None, token)}, auth=live.service, timeout=TIMEOUT
    )
    oauth_error(response, 400, "invalid_request")
    assert (
        requests.post(
            f"{live.server.url}/oauth/introspect", data={"token": token}, auth=live.service, timeout=TIMEOUT
        ).json()["active"]
        is True
    )


# -- bodies over the size limit -----------------------------------------------------------------------------
def raw_post(url: str, path: str, headers: dict, chunks: list[bytes], *, chunked: bool) -> tuple[int, bytes]:
    """POST over a plain socket (requests cannot send a chunked body of our choosing): the status line's code."""
    parts = urlsplit(url)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {sum(map(len, chunks))}")
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        with contextlib.suppress(OSError):  # the server may answer and close before reading it all
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        answer = b""
        with contextlib.suppress(OSError):
            while block := sock.recv(65536):
                answer += block
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1."), answer[:200]
    return int(status_line.split()[1]), answer


def oversized_form(token: str) -> list[bytes]:
    """A valid form whose padding takes it past the limit, in 64 KiB chunks."""
    body = f"token={token}&pad=".encode() + b"x" * (LIMIT + 1024)
    return [body[i : i + 65536] for i in range(0, len(body), 65536)]


def oversized_json() -> list[bytes]:
    body = b'{"name": "big", "scopes": ["contacts.readonly"], "description": "' + b"x" * (LIMIT + 1024) + b'"}'
    return [body[i : i + 65536] for i in range(0, len(body), 65536)]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content_length"])
def test_an_oversized_body_is_413_however_it_is_framed(live, chunked):
    form = {"Content-Type": "application/x-www-form-urlencoded", **basic(*live.service)}
    status, answer = raw_post(live.server.url, "/oauth/introspect", form, oversized_form(live.token()), chunked=chunked)
    assert status == 413, answer[:500]
    json_headers = {"Content-Type": "application/json", **live.admin}
    status, answer = raw_post(
        live.server.url,
        f"/api/accounts/{live.account_id}/integrations",
        json_headers,
        oversized_json(),
        chunked=chunked,
    )
    assert status == 413, answer[:500]
    assert b"application/problem+json" in answer


def test_a_chunked_body_under_the_limit_is_served(live):
    token = live.token()
    form = {"Content-Type": "application/x-www-form-urlencoded", **basic(*live.service)}
    status, answer = raw_post(live.server.url, "/oauth/introspect", form, [b"token=", token.encode()], chunked=True)
    assert status == 200 and b'"active":true' in answer.replace(b" ", b""), answer[:500]


@pytest.fixture(scope="module")
def granian(tmp_path_factory):
    """``authserver serve``: one granian worker, on SQLite (the framing is the server's, not the database's)."""
    server = make_authserver(tmp_path_factory.mktemp("hostile-granian"))
    _, service = run_cli(
        server,
        (["account", "create", "--name", "Served", "--json"], None),
        (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
    )
    argv = [sys.executable, "-m", "authserver", "serve", "--port", str(server.port), "--workers", "1"]
    with open(server.log_path, "ab") as log:
        server.proc = subprocess.Popen(
            argv,
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,  # noqa: S603
            cwd=server.workdir,
        )
    try:
        wait_for_http(f"{server.url}/.well-known/oauth-authorization-server", server.proc, server.log_path, timeout=90)
        yield server, (service["client_id"], service["client_secret"])
    finally:
        server.stop()


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content_length"])
def test_an_oversized_body_is_413_under_granian_too(granian, chunked):
    server, service = granian
    form = {"Content-Type": "application/x-www-form-urlencoded", **basic(*service)}
    status, answer = raw_post(server.url, "/oauth/introspect", form, oversized_form("x"), chunked=chunked)
    assert status == 413, answer[:500]
    status, answer = raw_post(server.url, "/oauth/revoke", form, oversized_form("x"), chunked=chunked)
    assert status == 413, answer[:500]


def test_a_chunked_body_under_the_limit_is_served_under_granian(granian):
    server, service = granian
    form = {"Content-Type": "application/x-www-form-urlencoded", **basic(*service)}
    status, answer = raw_post(server.url, "/oauth/introspect", form, [b"token=", b"garbage"], chunked=True)
    assert status == 200 and b'"active":false' in answer.replace(b" ", b""), answer[:500]


# -- 405 ----------------------------------------------------------------------------------------------------
METHODS_NOT_ALLOWED = {
    "introspect_get": ("GET", "/oauth/introspect", {"POST"}),
    "revoke_put": ("PUT", "/oauth/revoke", {"POST"}),
    "jwks_post": ("POST", "/.well-known/jwks.json", {"GET", "HEAD"}),
    "accounts_delete": ("DELETE", "/api/accounts", {"GET", "POST"}),
    "integration_put": ("PUT", "/api/integrations/int_x", {"GET", "PATCH", "DELETE"}),
    "trace": ("TRACE", "/api/accounts", {"GET", "POST"}),
    "signin_delete": ("DELETE", "/signin", {"GET", "POST"}),
}


@pytest.mark.parametrize("request_", METHODS_NOT_ALLOWED.values(), ids=METHODS_NOT_ALLOWED.keys())
def test_a_405_names_the_allowed_methods(live, request_):
    """RFC 9110 section 15.5.6: a 405 MUST carry Allow with the target's methods."""
    method, path, expected = request_
    response = requests.request(method, f"{live.server.url}{path}", headers=live.admin, timeout=TIMEOUT)
    assert response.status_code == 405, response.text
    allowed = {name.strip() for name in response.headers["Allow"].split(",")}
    assert expected <= allowed and method not in allowed
    assert "Traceback" not in response.text


# -- the admin pages ----------------------------------------------------------------------------------------
UI_FORMS = {
    "inactivity_window_huge": ("/integrations/new", {"inactivity_window": "999999999w"}),
    "inactivity_window_number": ("/integrations/new", {"inactivity_window": str(10**30)}),
    "grace_date_far_future": ("/rotate", {"mode": "later", "grace": "date", "grace_date": "9999-12-31T23:59:59"}),
    "grace_huge": ("/rotate", {"mode": "later", "grace": "999999999w"}),
    "expire_date_beyond_range": ("/expire", {"mode": "later", "at": "date", "at_date": "99999-01-01T00:00:00"}),
    "expire_huge": ("/expire", {"mode": "later", "at": str(10**30)}),
}


@pytest.mark.parametrize("form", UI_FORMS.values(), ids=UI_FORMS.keys())
def test_hostile_numbers_through_the_admin_pages_give_a_readable_refusal(live, integration_id, form):
    """The pages' forms offer choices, but a hand-made POST can send anything: the answer is the form again with
    the reason (400) or the integration's page with it (a redirect, then the reason flashed), never a server error."""
    action, fields = form
    browser = Browser(live.server)
    assert browser.sign_in("admin@hostile.example").status_code in (302, 303)
    base = f"/accounts/{live.account_id}/settings/integrations"
    path = f"{base}/new" if action == "/integrations/new" else f"{base}/{integration_id}{action}"
    csrf = browser.page_csrf_token(f"{base}/{integration_id}")
    response = browser.post(
        path,
        data={"csrf_token": csrf, "name": "ui", "scopes": "contacts.readonly", **fields},
        headers={"Origin": live.server.url},
    )
    if response.status_code in (302, 303):
        assert response.headers["Location"].endswith(f"{base}/{integration_id}")
        page = browser.get(response.headers["Location"])
        assert page.status_code == 200
    else:
        page = response
        assert response.status_code == 400, response.text[:500]
    assert "text/html" in page.headers["Content-Type"] and "Traceback" not in page.text
    assert any(word in page.text.lower() for word in ("choose", "must be", "longer than", "between", "year")), (
        page.text[:3000]
    )


# -- the CLI ------------------------------------------------------------------------------------------------
CLI_NUMBERS = {
    "expires_in_huge": (["token", "generate", "{integration}", "--expires-in", "999999999w"], "expires-in"),
    "expires_in_unitless": (["token", "generate", "{integration}", "--expires-in", str(10**15)], "expires-in"),
    "grace_huge": (["token", "rotate", "{integration}", "--grace", "99999999w"], "grace"),
    "inactivity_window_huge": (
        [
            "integration",
            "create",
            "--account",
            "{account}",
            "--name",
            "n",
            "--scope",
            "contacts.readonly",
            "--inactivity-window",
            "18251d",
        ],
        "inactivity-window",
    ),
}


@pytest.mark.parametrize("command", CLI_NUMBERS.values(), ids=CLI_NUMBERS.keys())
def test_the_cli_refuses_hostile_durations_with_one_line(live, integration_id, command):
    argv, option = command
    done = live.server.cli(
        *[arg.format(integration=integration_id, account=live.account_id) for arg in argv], check=False
    )
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"Error: {option} "), done.stderr
    assert "Traceback" not in done.stderr
