"""Issue 13 section 2: client credentials have a lifecycle, and every change holds at once in every instance.

Two real ``authserver run`` instances on 127.0.0.1 share one database (SQLite file, then PostgreSQL), seeded and
changed through the real CLI. Each test warms both instances with a correct call first, so a per-process cache of
the client row (the finding: a 5 s one) would answer the next call from memory.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.factories import basic
from tests.support.databases import ThrowawayPostgres, postgres_available
from tests.support.servers import free_port, make_authserver

from .conftest import remember, remember_response, run_cli, start_together

TIMEOUT = 30


class Pair:
    """Two instances over one database, and the CLI that changes it."""

    def __init__(self, a, b, database_url: str, account: dict, admin: dict) -> None:
        self.a, self.b, self.database_url = a, b, database_url
        self.account, self.admin = account, admin

    def cli(self, *argv: str) -> dict:
        return run_cli(self.a, ([*argv, "--json"], None))[0]

    def new_client(self, kind: str = "resource-service", account: bool = False) -> tuple[str, str]:
        argv = ["client", "create", "--name", f"{kind} client", "--kind", kind]
        if account or kind == "admin":
            argv += ["--account", self.account["id"]]
        created = self.cli(*argv)
        return created["client_id"], created["client_secret"]

    def token(self) -> str:
        integration = self.admin_api(
            "POST",
            f"/accounts/{self.account['id']}/integrations",
            json={"name": "lifecycle", "scopes": ["contacts.readonly"]},
        )
        assert integration.status_code == 201, integration.text
        issued = self.admin_api("POST", f"/integrations/{integration.json()['id']}/tokens", json={})
        assert issued.status_code == 201, issued.text
        return issued.json()["token"]

    def admin_api(self, method: str, path: str, auth: tuple[str, str] | None = None, **kwargs):
        auth = auth or (self.admin["client_id"], self.admin["client_secret"])
        return remember_response(
            requests.request(method, f"{self.a.url}/api{path}", headers=basic(*auth), timeout=TIMEOUT, **kwargs)
        )

    def set_column_by_hand(self, client_id: str, column: str, value) -> None:
        """What an operator could do before the lifecycle existed: edit the row in the database."""
        engine = create_engine(self.database_url)
        with engine.begin() as connection:
            connection.execute(
                text(f"UPDATE api_clients SET {column} = :value WHERE client_id = :id"),  # noqa: S608
                {"value": value, "id": client_id},
            )
        engine.dispose()


def introspect(server, token: str, auth: tuple[str, str]) -> requests.Response:
    return remember_response(
        requests.post(f"{server.url}/oauth/introspect", data={"token": token}, auth=auth, timeout=TIMEOUT)
    )


def revoke(server, token: str, auth: tuple[str, str]) -> requests.Response:
    return remember_response(
        requests.post(f"{server.url}/oauth/revoke", data={"token": token}, auth=auth, timeout=TIMEOUT)
    )


def assert_invalid_client(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"clients-{request.param}")
    database = None
    if request.param == "postgresql":
        if not postgres_available():
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
        database = ThrowawayPostgres()
        url = database.url
    else:
        url = f"sqlite:///{root / 'shared.db'}"
    shared = {
        "DATABASE_URL": url,
        "AUTHSERVER_KEYS_DIR": str(root / "keys"),
        "AUTHSERVER_ISSUER": f"http://127.0.0.1:{free_port()}",
        "AUTHSERVER_AUDIENCE": "https://api.clients.example/v2",
    }
    a = make_authserver(root / "a", **shared)
    b = make_authserver(root / "b", **shared)
    account, admin = run_cli(
        a,
        (["account", "create", "--name", "Acme", "--json"], None),
        (["client", "create", "--name", "ops", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
    )
    start_together(a, b)
    try:
        yield Pair(a, b, url, account, admin)
    finally:
        for server in (a, b):
            with contextlib.suppress(Exception):
                server.stop()
        if database is not None:
            database.drop()


def warm(pair: Pair, token: str, auth: tuple[str, str]) -> None:
    for server in (pair.a, pair.b):
        response = introspect(server, token, auth)
        assert response.status_code == 200 and response.json()["active"], response.text


# -- Found: a client disabled in the database keeps authenticating for seconds in each worker -------------------
def test_a_client_disabled_in_the_database_is_refused_at_once_by_every_instance(pair):
    service, token = pair.new_client(), pair.token()
    warm(pair, token, service)
    pair.set_column_by_hand(service[0], "disabled_at", datetime(2026, 1, 1))
    for server in (pair.a, pair.b):
        assert_invalid_client(introspect(server, token, service))


# -- Found: a leaked secret could not be disabled, rotated or deleted except in the database --------------------
def test_client_disable_refuses_the_client_at_once_everywhere_and_enable_lets_it_back(pair):
    service, token = pair.new_client(), pair.token()
    warm(pair, token, service)
    disabled = pair.cli("client", "disable", service[0])
    assert disabled["client_id"] == service[0] and disabled["status"] == "disabled"
    for server in (pair.a, pair.b):
        assert_invalid_client(introspect(server, token, service))
    assert pair.cli("client", "enable", service[0])["status"] == "active"
    warm(pair, token, service)


def test_client_delete_refuses_the_client_at_once_everywhere(pair):
    service, token = pair.new_client(), pair.token()
    warm(pair, token, service)
    assert pair.cli("client", "delete", service[0]) == {"client_id": service[0], "status": "deleted"}
    for server in (pair.a, pair.b):
        assert_invalid_client(introspect(server, token, service))
    listed = pair.cli("client", "list")["clients"]
    assert service[0] not in {row["client_id"] for row in listed}


def test_rotate_secret_with_no_overlap_kills_the_old_secret_at_once_everywhere(pair):
    service, token = pair.new_client(), pair.token()
    warm(pair, token, service)
    rotated = pair.cli("client", "rotate-secret", service[0], "--overlap", "0")
    remember(rotated)
    assert rotated["client_id"] == service[0] and rotated["client_secret"] != service[1]
    assert rotated["previous_secret_expires_at"] is None
    for server in (pair.a, pair.b):
        assert_invalid_client(introspect(server, token, service))
        assert introspect(server, token, (service[0], rotated["client_secret"])).json()["active"]


def test_rotate_secret_keeps_the_old_secret_until_the_overlap_ends(pair):
    service, token = pair.new_client(), pair.token()
    rotated = pair.cli("client", "rotate-secret", service[0], "--overlap", "24h")
    remember(rotated)
    new = (service[0], rotated["client_secret"])
    for server in (pair.a, pair.b):  # both secrets work during the overlap
        assert introspect(server, token, service).json()["active"]
        assert introspect(server, token, new).json()["active"]
    for server in (pair.a, pair.b):  # a day later only the new one does
        server.set_clock_offset(24 * 3600 + 1)
    try:
        time.sleep(0.1)
        for server in (pair.a, pair.b):
            assert_invalid_client(introspect(server, token, service))
            assert introspect(server, token, new).status_code == 200
    finally:
        for server in (pair.a, pair.b):
            server.set_clock_offset(0)


def test_a_rotated_out_admin_client_can_no_longer_revoke_or_use_the_admin_api(pair):
    admin = pair.new_client("admin")
    token = pair.token()
    rotated = pair.cli("client", "rotate-secret", admin[0], "--overlap", "0")
    remember(rotated)
    assert_invalid_client(revoke(pair.b, token, admin))
    assert pair.admin_api("GET", "/accounts", auth=admin).status_code == 401
    assert pair.admin_api("GET", "/accounts", auth=(admin[0], rotated["client_secret"])).status_code == 200
    assert revoke(pair.b, token, (admin[0], rotated["client_secret"])).status_code == 200


def test_a_secret_rotated_by_hand_in_the_database_is_refused_at_once(pair):
    service, token = pair.new_client(), pair.token()
    warm(pair, token, service)
    pair.set_column_by_hand(service[0], "secret_digest", "0" * 64)
    for server in (pair.a, pair.b):
        assert_invalid_client(introspect(server, token, service))


# -- RFC 6749 section 5.2: authenticated, but not allowed here -----------------------------------------------
def test_a_resource_service_calling_revocation_gets_unauthorized_client_not_a_challenge(pair):
    service, token = pair.new_client(), pair.token()
    response = revoke(pair.a, token, service)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "unauthorized_client"
    assert "WWW-Authenticate" not in response.headers
    assert introspect(pair.a, token, service).json()["active"]  # and the token was left alone


def test_an_admin_client_calling_introspection_gets_unauthorized_client(pair):
    token = pair.token()
    response = introspect(pair.b, token, (pair.admin["client_id"], pair.admin["client_secret"]))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "unauthorized_client"


def test_a_wrong_secret_is_still_invalid_client_with_a_challenge(pair):
    service, token = pair.new_client(), pair.token()
    assert_invalid_client(introspect(pair.a, token, (service[0], "not-the-secret")))
    assert_invalid_client(revoke(pair.a, token, (service[0], "not-the-secret")))


def test_lifecycle_changes_are_audited(pair):
    service = pair.new_client(account=True)
    pair.cli("client", "rotate-secret", service[0], "--overlap", "1h")
    pair.cli("client", "disable", service[0])
    pair.cli("client", "enable", service[0])
    pair.cli("client", "delete", service[0])
    events = pair.cli("audit", "list", "--account", pair.account["id"], "--target", service[0])["events"]
    assert [event["action"] for event in reversed(events)] == [
        "client.created",
        "client.secret_rotated",
        "client.disabled",
        "client.enabled",
        "client.deleted",
    ]
    assert all(event["actor"] == {"type": "operator", "id": "cli"} for event in events)
