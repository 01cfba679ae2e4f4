"""Ends are latched: once a reader has seen a token past its ``exp``, its scheduled end (a grace deadline) or its idle
deadline, it is never live again, even if the clock steps back (an NTP correction, a VM restored from a snapshot).

Each test moves a real server's clock forward past the end, asks, then moves it back and asks again; the second
answer must still be inactive, from introspection, from the admin API's status, and from a second server process
on the same database (the latch is in the database, not in a worker's memory).
"""

from __future__ import annotations

import contextlib

import pytest
import requests

from tests.support.resource_demo import AdminApi, cli_batch, make_resource_demo
from tests.support.servers import AuthServerProcess, free_port, make_authserver

TWO_HOURS = 2 * 3600
AUDIENCE = "https://api.latch.example/v2"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("latch"), AUTHSERVER_AUDIENCE=AUDIENCE)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def world(server):
    account, admin, service = cli_batch(
        server,
        ("account", "create", "--name", "Latch", "--json"),
        ("client", "create", "--name", "latch-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
        ("client", "create", "--name", "latch-api", "--kind", "resource-service", "--json"),
    )
    return {
        "admin": AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"]),
        "service": (service["client_id"], service["client_secret"]),
    }


@pytest.fixture
def clock(server):
    """Moves the server's clock; always put back afterwards."""
    yield server.set_clock_offset
    server.set_clock_offset(0)


def is_active(server, world, token: str, url: str | None = None) -> bool:
    response = requests.post(
        f"{url or server.url}/oauth/introspect", data={"token": token}, auth=world["service"], timeout=15
    )
    assert response.status_code == 200, response.text
    return response.json()["active"]


def status_of(world, integration_id: str, token: str) -> str:
    from .forge import parts

    jti = parts(token)[1]["jti"]
    tokens = world["admin"].call("GET", f"/api/integrations/{integration_id}/tokens")["tokens"]
    return next(row["status"] for row in tokens if row["token_id"] == jti)


def expiring_token(world) -> tuple[str, str]:
    admin = world["admin"]
    integration = admin.create_integration("short-lived", ["contacts.readonly"])
    return integration, admin.generate_token(integration, expires_in="1h")


def grace_token(world) -> tuple[str, str]:
    admin = world["admin"]
    integration = admin.create_integration("rotated", ["contacts.readonly"])
    old = admin.generate_token(integration)
    admin.rotate(integration, mode="later", grace="1h")
    return integration, old


def idle_token(world) -> tuple[str, str]:
    admin = world["admin"]
    integration = admin.call(
        "POST",
        f"/api/accounts/{admin.account_id}/integrations",
        201,
        json={"name": "idle", "scopes": ["contacts.readonly"], "inactivity_window": "1h"},
    )["id"]
    return integration, admin.generate_token(integration)


ENDS = {
    "exp": (expiring_token, "expired"),
    "grace_deadline": (grace_token, "expired"),
    "idle_deadline": (idle_token, "expired_inactive"),
}


@pytest.mark.parametrize("end", ENDS)
def test_token_seen_past_its_end_stays_inactive_when_the_clock_steps_back(server, world, clock, end):
    make, status = ENDS[end]
    integration, token = make(world)
    assert is_active(server, world, token)

    clock(TWO_HOURS)
    assert not is_active(server, world, token)

    clock(0)
    assert not is_active(server, world, token)
    assert status_of(world, integration, token) == status
    clock(-600)
    assert not is_active(server, world, token)


def test_token_never_seen_past_its_end_is_untouched_by_a_clock_that_only_looked_close(server, world, clock):
    """The latch records only an end actually reached: a clock moved to just before it latches nothing."""
    integration, token = expiring_token(world)
    clock(3600 - 120)
    assert is_active(server, world, token)
    clock(0)
    assert is_active(server, world, token)
    assert status_of(world, integration, token) == "active"


def test_latch_is_seen_by_another_server_process_on_the_same_database(server, world, clock, tmp_path):
    """A second instance (its own clock, never moved) agrees: the latch lives in the database."""
    _, token = expiring_token(world)
    clock(TWO_HOURS)
    assert not is_active(server, world, token)
    clock(0)
    other_clock = tmp_path / "clock-offset"
    other_clock.write_text("0")
    other = AuthServerProcess(
        workdir=tmp_path, port=free_port(), env=server.env | {"AUTHSERVER_CLOCK_OFFSET_FILE": str(other_clock)}
    )
    other.start()
    try:
        assert not is_active(server, world, token, url=other.url)
    finally:
        other.stop()


@pytest.mark.parametrize("mode", ["local", "introspection"])
def test_resource_demo_does_not_revive_a_token_it_saw_expire(server, world, clock, tmp_path, mode):
    """The resource side judges time on its own clock: once it has refused a token as expired (local mode, or a
    cached "active" in introspection mode), stepping its clock back does not make it acceptable again, though the
    authorization server (never moved) never saw the token end."""
    _, token = expiring_token(world)
    client_id, secret = world["service"]
    demo = make_resource_demo(
        tmp_path / "demo",
        authserver_url=server.url,
        client_id=client_id,
        client_secret=secret,
        mode=mode,
        RESOURCE_DEMO_AUDIENCE=AUDIENCE,
    )
    demo.start(timeout=60)
    try:

        def call() -> int:
            return requests.get(
                f"{demo.url}/v2/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=15
            ).status_code

        assert call() == 200
        demo.set_clock_offset(TWO_HOURS)
        assert call() == 401
        demo.set_clock_offset(0)
        assert call() == 401
        assert is_active(server, world, token)  # the server never saw it end
    finally:
        with contextlib.suppress(Exception):
            demo.stop()
