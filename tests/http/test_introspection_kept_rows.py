"""On SQLite the hot path's reads (the client's row, the token's state) are served again while nothing has been
committed since they were read (hotpath/prepared_reads: ``PRAGMA data_version``). These tests warm that cache with
an active answer, change the database from another connection (the app's own session, as the admin surfaces do) or
from another process (a second engine in a subprocess), and require the very next introspection to reflect it. On
PostgreSQL nothing is kept; the same tests hold there as a plain check."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import jwt
import pytest
from werkzeug.test import Client

from authserver.clients import load_credentials, rotate_client_secret, set_client_enabled, set_client_limit
from authserver.extensions import db
from authserver.hotpath.prepared_reads import read_connections
from authserver.integrations import expire_now, revoke_by_endpoint, set_status, update_integration
from authserver.principals import OPERATOR
from authserver.security import secret_digest
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, issue_token, make_integration


def _introspect(app, token: str, headers: dict) -> tuple[int, dict]:
    """As served: the request starts with no session of the test's open (else the reads run in its transaction)."""
    db.session.remove()
    answer = Client(app.wsgi_app).post("/oauth/introspect", data={"token": token}, headers=headers)
    return answer.status_code, answer.get_json()


def _warm(app, world) -> dict:
    """Two active answers for the agency's token: the second is served from kept rows on SQLite (checked)."""
    for _ in range(2):
        status, body = _introspect(app, world.agency.token, world.rs_headers)
        assert (status, body["active"]) == (200, True)
    if db.engine.dialect.name == "sqlite":
        kept = read_connections(db.engine)._kept
        assert kept is not None and len(kept.rows) == 2  # the client's row and the token's state
    return body


def _in_another_process(app, sql: str, **params) -> None:
    """One committed UPDATE from a fresh process with its own engine (typed as the app's columns are)."""
    program = (
        "import sys, json, datetime\n"
        "import sqlalchemy as sa\n"
        "url, sql, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
        "types = {k: sa.DateTime() for k in params if k.endswith('_at')}\n"
        "values = {k: datetime.datetime.fromisoformat(v) if k in types else v for k, v in params.items()}\n"
        "engine = sa.create_engine(url)\n"
        "with engine.begin() as c:\n"
        "    done = c.execute(sa.text(sql).bindparams(*(sa.bindparam(k, type_=t) for k, t in types.items())), values)\n"
        "    assert done.rowcount == 1, done.rowcount\n"
        "engine.dispose()\n"
    )
    url = db.engine.url.render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-c", program, url, sql, json.dumps(params)], check=True, timeout=60)  # noqa: S603


def _now_iso(clock) -> str:
    return clock.now().replace(tzinfo=None).isoformat()


def test_a_revocation_from_another_process_is_seen_by_the_next_request(app, world, clock):
    _warm(app, world)
    _in_another_process(
        app,
        "UPDATE access_tokens SET revoked_at = :revoked_at WHERE jti = :jti",
        revoked_at=_now_iso(clock),
        jti=world.agency.jti,
    )
    assert _introspect(app, world.agency.token, world.rs_headers) == (200, {"active": False})


def test_a_secret_changed_from_another_process_holds_from_the_next_request(app, world, clock):
    _warm(app, world)
    client_id, _secret = world.resource_service
    _in_another_process(
        app,
        "UPDATE api_clients SET secret_digest = :digest WHERE client_id = :client_id",
        digest=secret_digest("a-new-secret"),
        client_id=client_id,
    )
    status, body = _introspect(app, world.agency.token, world.rs_headers)
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = _introspect(app, world.agency.token, basic(client_id, "a-new-secret"))
    assert (status, body["active"]) == (200, True)


def test_a_client_disabled_from_another_process_is_refused_at_once(app, world, clock):
    _warm(app, world)
    _in_another_process(
        app,
        "UPDATE api_clients SET disabled_at = :disabled_at WHERE client_id = :client_id",
        disabled_at=_now_iso(clock),
        client_id=world.resource_service[0],
    )
    status, body = _introspect(app, world.agency.token, world.rs_headers)
    assert (status, body["error"]) == (401, "invalid_client")


def _revoke(world, now, services):
    assert revoke_by_endpoint(OPERATOR, world.agency.jti, now=now)


def _expire(world, now, services):
    expire_now(OPERATOR, world.agency.integration_id, now=now)


def _disable_integration(world, now, services):
    set_status(OPERATOR, world.agency.integration_id, "disabled", now=now)


def _revoke_signing_key(world, now, services):
    kid = jwt.get_unverified_header(world.agency.token)["kid"]
    services.keystore.revoke(kid, OPERATOR, now)


@pytest.mark.parametrize("change", [_revoke, _expire, _disable_integration, _revoke_signing_key])
def test_a_token_change_committed_on_another_connection_is_seen_by_the_next_request(
    app, world, clock, services, change
):
    _warm(app, world)
    with unit_of_work():
        change(world, clock.now(), services)
    assert _introspect(app, world.agency.token, world.rs_headers) == (200, {"active": False})


def test_narrowed_scopes_are_answered_at_once(app, world, clock, services):
    integration = make_integration(clock, world.agency.account_id, scopes=("contacts.readonly", "contacts.write"))
    integration_id = integration.id
    token = issue_token(services, clock, integration_id).token
    for _ in range(2):
        status, body = _introspect(app, token, world.rs_headers)
        assert body["scope"] == "contacts.readonly contacts.write"
    with unit_of_work():
        update_integration(OPERATOR, integration_id, now=clock.now(), scopes=["contacts.readonly"])
    status, body = _introspect(app, token, world.rs_headers)
    assert (status, body["active"], body["scope"]) == (200, True, "contacts.readonly")


def test_a_secret_rotated_without_overlap_or_a_disabled_client_holds_from_the_next_request(app, world, clock):
    _warm(app, world)
    client_id, _old = world.resource_service
    with unit_of_work():
        _client, new = rotate_client_secret(OPERATOR, client_id, overlap=0, now=clock.now())
    assert _introspect(app, world.agency.token, world.rs_headers)[1]["error"] == "invalid_client"
    assert _introspect(app, world.agency.token, basic(client_id, new))[1]["active"] is True
    with unit_of_work():
        set_client_enabled(OPERATOR, client_id, False, now=clock.now())
    assert _introspect(app, world.agency.token, basic(client_id, new))[1]["error"] == "invalid_client"


def test_a_changed_client_limit_is_read_by_the_next_request(app, world, clock):
    _warm(app, world)
    client_id = world.resource_service[0]
    assert load_credentials(client_id).introspection_limit is None
    with unit_of_work():
        set_client_limit(OPERATOR, client_id, introspection="1/1h", default=None, now=clock.now())
    assert load_credentials(client_id).introspection_limit == "1/1h"


def test_time_still_ends_a_token_whose_row_is_kept(app, world, clock, services):
    """Expiry is judged per request from the kept state and the clock: no commit is needed for it to hold."""
    integration = make_integration(clock, world.agency.account_id)
    token = issue_token(services, clock, integration.id, expires_in=60).token
    for _ in range(2):
        assert _introspect(app, token, world.rs_headers)[1]["active"] is True
    clock.advance(timedelta(seconds=61).total_seconds())
    assert _introspect(app, token, world.rs_headers) == (200, {"active": False})


def test_rows_are_kept_per_connection_and_value_seen(app, world):
    """A read on another connection, or after any commit, starts from nothing."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("rows are kept on SQLite only")
    _warm(app, world)
    connections = read_connections(db.engine)
    kept = connections._kept
    other = connections._open()
    try:
        version = other.execute("PRAGMA data_version").fetchone()[0]
        assert connections.kept_rows(other, version) == {}
        assert connections._kept is not kept and kept.rows  # the old set is left whole for whoever holds it
    finally:
        other.close()
