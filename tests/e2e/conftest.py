"""End-to-end fixtures: one real ``authserver run`` on 127.0.0.1 for the session, seeded through the real CLI.

Every test makes its own integrations through the admin API, so tests share the server but not state (starting a
server and its CLI costs seconds on a busy machine). Tests that move the server's clock use ``server_clock``, which
puts it back afterwards; tests that kill the server start it again on the same port and database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests

from tests.factories import basic
from tests.support.servers import AuthServerProcess, make_authserver

AUDIENCE = "https://api.e2e.example/v2"
# Rate limits stay at their defaults: the tests move the server clock forward and back, which must not lock
# anyone out.
# The expiry scan is off on this shared server: its tests run `token expire-inactive` themselves and assert what it
# expired (the scan in serving processes is tested in tests/ops/test_expiry_job.py).
E2E_ENV = {"AUTHSERVER_AUDIENCE": AUDIENCE, "AUTHSERVER_EXPIRY_SCAN_INTERVAL": "off"}


class AdminApi:
    """An admin client talking to the JSON admin API with HTTP Basic, as an admin's script would."""

    def __init__(self, server: AuthServerProcess, client_id: str, secret: str, account_id: str) -> None:
        self.server, self.client_id, self.secret, self.account_id = server, client_id, secret, account_id

    @property
    def credentials(self) -> tuple[str, str]:
        return self.client_id, self.secret

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = basic(self.client_id, self.secret) | kwargs.pop("headers", {})
        return requests.request(method, f"{self.server.url}/api{path}", headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: dict | None = None, **kwargs) -> requests.Response:
        return self.request("POST", path, json={} if json is None else json, **kwargs)

    def patch(self, path: str, json: dict, **kwargs) -> requests.Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # -- shortcuts for the steps most tests share ---------------------------------------------------
    def create_integration(self, scopes=("contacts.readonly",), account_id: str | None = None, **body) -> dict:
        response = self.post(
            f"/accounts/{account_id or self.account_id}/integrations",
            json={"name": "e2e integration", "scopes": list(scopes)} | body,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def generate(self, integration_id: str, **body) -> dict:
        response = self.post(f"/integrations/{integration_id}/tokens", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def integration(self, integration_id: str) -> requests.Response:
        return self.get(f"/integrations/{integration_id}")

    def audit(self, account_id: str | None = None, **params) -> list[dict]:
        response = self.get(f"/accounts/{account_id or self.account_id}/audit", params=params)
        assert response.status_code == 200, response.text
        return response.json()["events"]


@dataclass
class World:
    """An agency with a sub-account and a second admin, an unrelated account, a resource service for every
    account and one bound to the agency."""

    server: AuthServerProcess
    resource_service: tuple[str, str]
    agency_resource_service: tuple[str, str]
    agency: AdminApi
    agency_second_admin: AdminApi
    sub: AdminApi
    other: AdminApi

    def introspect(self, token: str, auth: tuple[str, str] | None = None, **form) -> dict:
        response = requests.post(
            f"{self.server.url}/oauth/introspect",
            data={"token": token} | form,
            auth=auth or self.resource_service,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def is_active(self, token: str) -> bool:
        return self.introspect(token)["active"]

    def revoke(self, token: str, auth: tuple[str, str] | None = None) -> requests.Response:
        return requests.post(f"{self.server.url}/oauth/revoke", data={"token": token}, auth=auth, timeout=30)


def seed_world(server: AuthServerProcess) -> World:
    (agency, sub, other, agency_admin, agency_admin_2, sub_admin, other_admin, service, agency_service) = (
        server.cli_batch(
            ["account", "create", "--name", "Agency", "--json"],
            ["account", "create", "--name", "Sub", "--parent", "{0[id]}", "--json"],
            ["account", "create", "--name", "Other", "--json"],
            ["client", "create", "--name", "agency admin", "--kind", "admin", "--account", "{0[id]}", "--json"],
            ["client", "create", "--name", "agency admin 2", "--kind", "admin", "--account", "{0[id]}", "--json"],
            ["client", "create", "--name", "sub admin", "--kind", "admin", "--account", "{1[id]}", "--json"],
            ["client", "create", "--name", "other admin", "--kind", "admin", "--account", "{2[id]}", "--json"],
            ["client", "create", "--name", "contacts service", "--kind", "resource-service", "--json"],
            [
                "client",
                "create",
                "--name",
                "agency's own service",
                "--kind",
                "resource-service",
                "--account",
                "{0[id]}",
                "--json",
            ],
        )
    )

    def admin(client: dict, account: dict) -> AdminApi:
        return AdminApi(server, client["client_id"], client["client_secret"], account["id"])

    return World(
        server=server,
        resource_service=(service["client_id"], service["client_secret"]),
        agency_resource_service=(agency_service["client_id"], agency_service["client_secret"]),
        agency=admin(agency_admin, agency),
        agency_second_admin=admin(agency_admin_2, agency),
        sub=admin(sub_admin, sub),
        other=admin(other_admin, other),
    )


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"), **E2E_ENV)
    seeded = seed_world(server)
    server.start()
    try:
        yield seeded
    finally:
        server.stop()


class ServerClock:
    """Moves a running server's clock (and its CLI's: they read the same offset file)."""

    def __init__(self, server: AuthServerProcess) -> None:
        self.server = server

    def move(self, seconds: float) -> None:
        self.server.set_clock_offset(seconds)

    def call_at(self, moment: datetime, action):
        """Run ``action()`` while the server's whole-second clock reads exactly ``moment``.

        The offset lands the server 50 ms into that second; if the action took too long to be sure it ran inside
        the second, it is retried."""
        for _ in range(5):
            started = time.time()
            self.server.set_clock_offset(moment.timestamp() + 0.05 - started)
            result = action()
            if time.time() - started < 0.9:
                return result
        raise AssertionError(f"could not act within one server second at {moment.isoformat()}")

    def reset(self) -> None:
        self.server.set_clock_offset(0)


@pytest.fixture
def server_clock(world):
    clock = ServerClock(world.server)
    yield clock
    clock.reset()


def instant(text: str) -> datetime:
    """An API timestamp (``2026-01-15T12:00:00Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
