"""PostgreSQL: the direct path reads the client's row and the token's state ahead, in one round trip
(hotpath/introspection_prefetch, hotpath/paired_reads), and hands them to that request's two reads. Each answer
here is the same with the read ahead and without it (the plain path: one round trip per read), and the round trips
are counted: one for a request whose keys were guessed right, never more than the plain path makes."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from sqlalchemy import text
from werkzeug.test import Client

import authserver.hotpath.direct as direct
from authserver.clients import set_client_enabled
from authserver.extensions import db
from authserver.hotpath import prepared_reads
from authserver.hotpath.introspection_prefetch import CLIENT_AND_TOKEN, guessed_client_id, unverified_jti
from authserver.hotpath.prepared_reads import read_connections, serving_prefetched
from authserver.integrations import expire_now, revoke_by_endpoint, update_integration
from authserver.principals import OPERATOR
from authserver.tokens import STATE_READ, load_state
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, issue_token, make_client, make_integration

from . import forge

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def round_trips(monkeypatch):
    """Every statement sent through libpq by the prepared reads, counted."""
    sent: list[bytes] = []
    rows = prepared_reads._PreparedOnConnection.rows

    def counted(self, sql, arguments):
        sent.append(sql)
        return rows(self, sql, arguments)

    monkeypatch.setattr(prepared_reads._PreparedOnConnection, "rows", counted)
    return sent


def _introspect(app, data: dict, headers: dict, monkeypatch, *, ahead: bool) -> tuple[int, dict]:
    db.session.remove()  # as served: no session of the test's open
    with monkeypatch.context() as patch:
        if not ahead:
            patch.setattr(direct, "prefetched_introspection_reads", lambda request, verifier: None)
        answer = Client(app.wsgi_app).post("/oauth/introspect", data=data, headers=headers)
    assert prepared_reads._PREFETCHED.get() is None  # nothing outlives the request
    return answer.status_code, answer.get_json()


def _both(app, data, headers, monkeypatch, round_trips) -> tuple[tuple[int, dict], int, int]:
    """The answer (the same on both paths, checked) and the round trips with and without reading ahead. A first
    request warms what is read once per process (a signing key's row, through the session: a read in the session's
    transaction is not prefetched, and is not counted here)."""
    _introspect(app, data, headers, monkeypatch, ahead=False)
    round_trips.clear()
    plain = _introspect(app, data, headers, monkeypatch, ahead=False)
    plain_trips = len(round_trips)
    round_trips.clear()
    ahead = _introspect(app, data, headers, monkeypatch, ahead=True)
    assert ahead == plain
    return ahead, len(round_trips), plain_trips


def test_an_active_token_is_answered_alike_in_one_round_trip(app, world, monkeypatch, round_trips):
    (status, body), trips, plain_trips = _both(
        app, {"token": world.agency.token}, world.rs_headers, monkeypatch, round_trips
    )
    assert (status, body["active"], trips, plain_trips) == (200, True, 1, 2)
    assert round_trips == [CLIENT_AND_TOKEN._for(db.engine).libpq_sql]


def test_client_secret_post_is_read_ahead_too(app, world, monkeypatch, round_trips):
    client_id, secret = world.resource_service
    data = {"token": world.agency.token, "client_id": client_id, "client_secret": secret}
    (status, body), trips, plain_trips = _both(app, data, {}, monkeypatch, round_trips)
    assert (status, body["active"], trips, plain_trips) == (200, True, 1, 2)


def _revoke(world, clock, services):
    assert revoke_by_endpoint(OPERATOR, world.agency.jti, now=clock.now())


def _expire(world, clock, services):
    expire_now(OPERATOR, world.agency.integration_id, now=clock.now())


def _disable_client(world, clock, services):
    set_client_enabled(OPERATOR, world.resource_service[0], False, now=clock.now())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_revoke, (200, {"active": False})),
        (_expire, (200, {"active": False})),
        (_disable_client, (401, "invalid_client")),
    ],
)
def test_a_changed_row_is_answered_alike_from_the_next_request(
    app, world, clock, services, monkeypatch, round_trips, change, expected
):
    _both(app, {"token": world.agency.token}, world.rs_headers, monkeypatch, round_trips)
    with unit_of_work():
        change(world, clock, services)
    (status, body), trips, _plain = _both(
        app, {"token": world.agency.token}, world.rs_headers, monkeypatch, round_trips
    )
    assert (status, body if status == 200 else body["error"]) == expected
    assert trips == 1


def test_narrowed_scopes_are_answered_alike(app, world, clock, services, monkeypatch, round_trips):
    integration = make_integration(clock, world.agency.account_id, scopes=("contacts.readonly", "contacts.write"))
    integration_id = integration.id
    token = issue_token(services, clock, integration_id).token
    with unit_of_work():
        update_integration(OPERATOR, integration_id, now=clock.now(), scopes=["contacts.readonly"])
    (status, body), trips, _plain = _both(app, {"token": token}, world.rs_headers, monkeypatch, round_trips)
    assert (status, body["active"], body["scope"], trips) == (200, True, "contacts.readonly", 1)


def test_a_token_for_another_service_is_answered_alike(app, world, clock, services, monkeypatch, round_trips):
    mine = basic(*make_client(clock, name="paired A", resource="https://a.example.com"))
    another = basic(*make_client(clock, name="paired B", resource="https://b.example.com"))
    integration = make_integration(clock, world.agency.account_id, name="limited", resources=["https://a.example.com"])
    token = issue_token(services, clock, integration.id).token
    assert _both(app, {"token": token}, mine, monkeypatch, round_trips)[0][1]["active"] is True
    assert _both(app, {"token": token}, another, monkeypatch, round_trips)[0] == (200, {"active": False})


def _refusals(world, services) -> dict[str, tuple[dict, dict]]:
    client_id, secret = world.resource_service
    token, rs = world.agency.token, world.rs_headers
    escaped = "".join(f"%{ord(char):02X}" for char in client_id)  # authlib unquotes the Basic user name
    raw = base64.b64encode(f"{escaped}:{quote(secret)}".encode()).decode()
    return {
        "unknown client": ({"token": token}, basic("cli_nobody", secret)),
        "wrong secret": ({"token": token}, basic(client_id, secret + "x")),
        "malformed basic": ({"token": token}, {"Authorization": "Basic !!"}),
        "basic not utf-8": ({"token": token}, {"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}),
        "percent-encoded client id": ({"token": token}, {"Authorization": f"Basic {raw}"}),
        "unknown jti": ({"token": forge.resign(services, token, claims={"jti": "tok_unknown"})}, rs),
        "forged signature, real jti": ({"token": forge.tampered(token, scope="contacts.write")}, rs),
        "garbage token": ({"token": "a.b.c"}, rs),
        "no credentials": ({"token": token}, {}),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown client",
        "wrong secret",
        "malformed basic",
        "basic not utf-8",
        "percent-encoded client id",
        "unknown jti",
        "forged signature, real jti",
        "garbage token",
        "no credentials",
    ],
)
def test_every_other_answer_is_alike_and_never_costs_more_round_trips(
    app, world, services, monkeypatch, round_trips, case
):
    data, headers = _refusals(world, services)[case]
    (status, body), trips, plain_trips = _both(app, data, headers, monkeypatch, round_trips)
    assert trips <= max(plain_trips, 1)
    if case == "percent-encoded client id":
        assert (status, body["active"], trips) == (200, True, 1)
    if case == "forged signature, real jti":
        assert unverified_jti(data["token"]) == world.agency.jti  # its row was read ahead, and not used
        assert (status, body, trips) == (200, {"active": False}, 1)


def test_keys_are_guessed_as_authlib_decodes_them(app, world):
    from authserver.hotpath.direct import WsgiOAuth2Request

    client_id, secret = world.resource_service

    def request(headers, form=()):
        environ = {"REQUEST_METHOD": "POST", **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
        return WsgiOAuth2Request.from_environ(environ, "http://127.0.0.1/oauth/introspect", direct._Form(form), None)

    assert guessed_client_id(request(basic(client_id, secret))) == client_id
    assert guessed_client_id(request({}, [("client_id", client_id), ("client_secret", secret)])) == client_id
    assert guessed_client_id(request({}, [("client_id", client_id)])) is None  # no secret: authlib reads nothing
    assert guessed_client_id(request({"Authorization": "Bearer x"})) is None
    assert unverified_jti(world.agency.token) == world.agency.jti
    assert unverified_jti("x.!!!.y") is None and unverified_jti("a.W10.c") is None  # not base64 JSON; not an object
    assert unverified_jti("a." + "W" * 4000 + ".c") is None


def test_a_prefetched_row_is_taken_once_and_only_for_its_exact_arguments(app, world, clock, services, round_trips):
    rows = CLIENT_AND_TOKEN.rows_of(db.engine, {"client_id": world.resource_service[0]}, {"jti": world.agency.jti})
    assert rows is not None and len(round_trips) == 1
    other_token = issue_token(services, clock, make_integration(clock, world.agency.account_id, name="another").id)
    other_jti = unverified_jti(other_token.token)
    db.session.remove()
    with serving_prefetched(rows):
        assert load_state(other_jti).jti == other_jti  # another jti: read from the database
        assert len(round_trips) == 2
        expected = rows[(STATE_READ.compiled_for(db.engine), (world.agency.jti,))]
        first = load_state(world.agency.jti)
        assert first is expected and first.jti == world.agency.jti
        assert len(round_trips) == 2  # served from the prefetch
        assert load_state(world.agency.jti) == first
        assert len(round_trips) == 3  # once only: the second read goes to the database
    load_state(world.agency.jti)
    assert len(round_trips) == 4


def test_a_connection_that_died_before_the_paired_read_is_replaced_without_an_error(app, world, monkeypatch):
    _introspect(app, {"token": world.agency.token}, world.rs_headers, monkeypatch, ahead=True)
    connections = read_connections(db.engine)
    kept = connections._idle[-1]
    with db.engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": kept.info.backend_pid})
    status, body = _introspect(app, {"token": world.agency.token}, world.rs_headers, monkeypatch, ahead=True)
    assert (status, body["active"]) == (200, True)
    assert kept not in connections._idle


def test_a_database_that_stays_away_is_a_503(app, world, monkeypatch):
    from psycopg import OperationalError

    def unreachable(self, sql, arguments):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(prepared_reads._PreparedOnConnection, "rows", unreachable)
    status, body = _introspect(app, {"token": world.agency.token}, world.rs_headers, monkeypatch, ahead=True)
    assert (status, body["error"]) == (503, "temporarily_unavailable")
