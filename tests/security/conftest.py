"""The attack catalogue's target: one real ``authserver run`` on 127.0.0.1 for the whole security run, seeded
through the real CLI with two tenants (an agency with a sub-account, and an unrelated account), an admin client
each, a resource service bound to no account and one bound to the agency, and people who sign in to the UI: an
agency admin and an agency member.

Tests that need a server of their own (rate limits, faults) start one with ``make_authserver``.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
import requests

from tests.factories import basic
from tests.support.forkserver import run_python
from tests.support.servers import AuthServerProcess, make_authserver, wait_for_http

AUDIENCE = "https://api.security.example/v2"
PASSWORD = "correct horse battery staple"
TIMEOUT = 30

# Each command: [argv, stdin or None]. Arguments may name earlier results with str.format fields.
_SEED = """
import contextlib, io, json, sys
from authserver.cli import main
results = []
for argv, stdin in json.load(sys.stdin):
    sys.argv = ["authserver", *[arg.format(*results) for arg in argv]]
    sys.stdin = io.StringIO(stdin or "")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            if exc.code not in (0, None):
                sys.exit(f"authserver {' '.join(sys.argv[1:])} failed with {exc.code}")
    results.append(json.loads(out.getvalue()))
sys.stdout.write(json.dumps(results))
"""


# Every secret, token, password, session id and CSRF token the security run hands out or receives; the log
# hygiene test looks for each of them in every server log of the run.
SECRETS: set[str] = set()
SECRET_FIELDS = frozenset({"token", "client_secret", "secret", "key", "password", "csrf_token"})


def remember(value: object) -> None:
    """Record secrets: strings as they are, and the values of secret-named fields anywhere in a JSON document."""
    if isinstance(value, str):
        if len(value) >= 8:
            SECRETS.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_FIELDS and isinstance(item, str):
                remember(item)
            elif isinstance(item, dict | list):
                remember(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                remember(item)


def remember_response(response: requests.Response) -> requests.Response:
    if response.headers.get("Content-Type", "").endswith("json"):
        with contextlib.suppress(ValueError):
            remember(response.json())
    for cookie in response.cookies:
        remember(cookie.value)
    return response


def run_cli(server: AuthServerProcess, *commands: tuple[list[str], str | None]) -> list[dict]:
    """Several ``authserver ... --json`` commands in one process, each with its own standard input."""
    done = run_python(["-c", _SEED], env=server.env, cwd=server.workdir, input=json.dumps(commands), timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"authserver seed failed: {done.stderr}")
    results = json.loads(done.stdout)
    remember(results)
    for _, stdin in commands:
        if stdin:
            remember(stdin.strip())
    return results


def start_together(*servers: AuthServerProcess, timeout: float = 90.0) -> list[AuthServerProcess]:
    """Start several ``authserver run`` processes at once (each spends seconds on imports), then wait for each;
    the wait is generous because the suite may share two cores with other work."""
    for server in servers:
        with open(server.log_path, "ab") as log:
            server.proc = subprocess.Popen(
                [sys.executable, "-m", "authserver", "run", "--port", str(server.port)],
                env=server.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=server.workdir,
            )
    for server in servers:
        wait_for_http(
            f"{server.url}/.well-known/oauth-authorization-server", server.proc, server.log_path, timeout=timeout
        )
    return list(servers)


class Admin:
    """An admin client of one account, speaking to the JSON admin API with HTTP Basic."""

    def __init__(self, server: AuthServerProcess, client_id: str, secret: str, account_id: str) -> None:
        self.server, self.client_id, self.secret, self.account_id = server, client_id, secret, account_id

    @property
    def credentials(self) -> tuple[str, str]:
        return self.client_id, self.secret

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = basic(self.client_id, self.secret) | kwargs.pop("headers", {})
        return remember_response(
            requests.request(method, f"{self.server.url}/api{path}", headers=headers, timeout=TIMEOUT, **kwargs)
        )

    def create_integration(self, scopes=("contacts.readonly",), account_id: str | None = None) -> dict:
        response = self.request(
            "POST",
            f"/accounts/{account_id or self.account_id}/integrations",
            json={"name": "security integration", "scopes": list(scopes)},
        )
        assert response.status_code == 201, response.text
        return response.json()

    def generate(self, integration_id: str, **body) -> dict:
        response = self.request("POST", f"/integrations/{integration_id}/tokens", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def integration_with_token(self, scopes=("contacts.readonly",), account_id: str | None = None) -> dict:
        integration = self.create_integration(scopes, account_id)
        return self.generate(integration["id"]) | {"integration": integration}


class Browser:
    """A person in a browser: a cookie jar, the sign-in form's CSRF token, and same-origin headers."""

    def __init__(self, server: AuthServerProcess) -> None:
        self.server = server
        self.session = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return remember_response(
            self.session.request(method, self.server.url + path, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        )

    def signin_form_token(self) -> str:
        page = self.get("/signin")
        assert page.status_code == 200, page.text
        return form_field(page.text, "csrf_token")

    def sign_in(self, email: str, password: str = PASSWORD) -> requests.Response:
        token = self.signin_form_token()
        remember(password)
        return self.post(
            "/signin",
            data={"email": email, "password": password, "csrf_token": token},
            headers={"Origin": self.server.url},
        )

    def page_csrf_token(self, path: str = "/") -> str:
        """The session's CSRF token, as a page of ours carries it."""
        response = self.session.get(self.server.url + path, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return form_field(response.text, "csrf_token")


def form_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"\s+value="([^"]+)"', html) or re.search(rf'value="([^"]+)"\s+name="{name}"', html)
    assert match, f"no {name} field in the page"
    remember(match.group(1))
    return match.group(1)


@dataclass
class Target:
    server: AuthServerProcess
    resource_service: tuple[str, str]
    agency_service: tuple[str, str]  # a resource service bound to the agency account
    agency: Admin
    sub: Admin
    other: Admin
    users: dict[str, str]  # role -> email (agency admin, agency member, other admin)

    @property
    def url(self) -> str:
        return self.server.url

    def introspect(self, token: str, auth=None, **form) -> requests.Response:
        return remember_response(
            requests.post(
                f"{self.url}/oauth/introspect",
                data={"token": token} | form,
                auth=auth or self.resource_service,
                timeout=TIMEOUT,
            )
        )

    def is_active(self, token: str) -> bool:
        response = self.introspect(token)
        assert response.status_code == 200, response.text
        return response.json()["active"]

    def revoke(self, token: str, auth=None, **form) -> requests.Response:
        return requests.post(f"{self.url}/oauth/revoke", data={"token": token} | form, auth=auth, timeout=TIMEOUT)

    def browser(self, role: str | None = None) -> Browser:
        browser = Browser(self.server)
        if role is not None:
            response = browser.sign_in(self.users[role])
            assert response.status_code in (302, 303), response.text
        return browser


def seed(server: AuthServerProcess) -> Target:
    results = run_cli(
        server,
        (["account", "create", "--name", "Agency", "--json"], None),
        (["account", "create", "--name", "Sub", "--parent", "{0[id]}", "--json"], None),
        (["account", "create", "--name", "Other", "--json"], None),
        (["client", "create", "--name", "agency admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
        (["client", "create", "--name", "sub admin", "--kind", "admin", "--account", "{1[id]}", "--json"], None),
        (["client", "create", "--name", "other admin", "--kind", "admin", "--account", "{2[id]}", "--json"], None),
        (["client", "create", "--name", "contacts service", "--kind", "resource-service", "--json"], None),
        (
            [
                "client",
                "create",
                "--name",
                "agency service",
                "--kind",
                "resource-service",
                "--account",
                "{0[id]}",
                "--json",
            ],
            None,
        ),
        (
            [
                "user",
                "create",
                "--account",
                "{0[id]}",
                "--email",
                "admin@agency.example",
                "--role",
                "admin",
                "--password-stdin",
                "--json",
            ],
            PASSWORD + "\n",
        ),
        (
            [
                "user",
                "create",
                "--account",
                "{0[id]}",
                "--email",
                "member@agency.example",
                "--role",
                "member",
                "--password-stdin",
                "--json",
            ],
            PASSWORD + "\n",
        ),
        (
            [
                "user",
                "create",
                "--account",
                "{2[id]}",
                "--email",
                "admin@other.example",
                "--role",
                "admin",
                "--password-stdin",
                "--json",
            ],
            PASSWORD + "\n",
        ),
    )
    agency, sub, other, agency_admin, sub_admin, other_admin, service, agency_service = results[:8]

    def admin(client: dict, account: dict) -> Admin:
        return Admin(server, client["client_id"], client["client_secret"], account["id"])

    return Target(
        server=server,
        resource_service=(service["client_id"], service["client_secret"]),
        agency_service=(agency_service["client_id"], agency_service["client_secret"]),
        agency=admin(agency_admin, agency),
        sub=admin(sub_admin, sub),
        other=admin(other_admin, other),
        users={
            "agency_admin": "admin@agency.example",
            "agency_member": "member@agency.example",
            "other_admin": "admin@other.example",
        },
    )


@pytest.fixture(scope="session")
def target(tmp_path_factory):
    # Sign-in failures from 127.0.0.1 add up across the catalogue; the per-address limit has its own server.
    server = make_authserver(
        tmp_path_factory.mktemp("security"),
        AUTHSERVER_AUDIENCE=AUDIENCE,
        AUTHSERVER_SIGNIN_ADDRESS_LIMIT="1000/15m",
        # Webhook subscriptions to a closed local port (no worker runs: nothing is sent).
        AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        AUTHSERVER_WEBHOOK_ALLOW_HTTP="on",
    )
    seeded = seed(server)
    start_together(server)
    try:
        yield seeded
    finally:
        with contextlib.suppress(Exception):
            server.stop()
