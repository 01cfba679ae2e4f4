"""The direct WSGI introspection path answers exactly as the Flask route does, and leaves it every request it was
not built for. The Flask route is reached here by calling the app's inner WSGI callable, under the direct path."""

from __future__ import annotations

import base64
from io import BytesIO

import pytest
from werkzeug.test import Client, EnvironBuilder

from authserver.clients import delete_client, rotate_client_secret, set_client_enabled, set_client_limit
from authserver.hotpath.direct import DirectIntrospection
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, issue_token, make_client, make_integration

from . import forge

# Headers that legitimately differ between two answers: a fresh request id each, and the order-free rest.
_VARYING = {"x-request-id", "content-length", "date", "server"}


def _answers(shared):
    app = shared.app
    assert isinstance(app.wsgi_app, DirectIntrospection)
    return Client(app.wsgi_app), Client(app.wsgi_app.wsgi_app)


def _compare(shared, **request):
    direct, flask_route = _answers(shared)
    ours = direct.post("/oauth/introspect", **request)
    reference = flask_route.post("/oauth/introspect", **request)
    assert ours.status_code == reference.status_code, (ours.get_data(), reference.get_data())
    assert ours.get_json() == reference.get_json()
    mine = {(k.lower(), v) for k, v in ours.headers.items() if k.lower() not in _VARYING}
    theirs = {(k.lower(), v) for k, v in reference.headers.items() if k.lower() not in _VARYING}
    assert mine == theirs
    return ours


def _cases(world, services):
    client_id, secret = world.resource_service
    rs = world.rs_headers
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {
        "active": dict(data={"token": world.agency.token}, headers=rs),
        "active, client_secret_post": dict(
            data={"token": world.agency.token, "client_id": client_id, "client_secret": secret}
        ),
        "two methods at once": dict(
            data={"token": world.agency.token, "client_id": client_id, "client_secret": secret}, headers=rs
        ),
        "no credentials": dict(data={"token": world.agency.token}),
        "wrong secret": dict(data={"token": world.agency.token}, headers=basic(client_id, secret + "x")),
        "unknown client": dict(data={"token": world.agency.token}, headers=basic("cli_nobody", secret)),
        "malformed basic": dict(data={"token": world.agency.token}, headers={"Authorization": "Basic !!"}),
        "lower-case scheme": dict(data={"token": world.agency.token}, headers={"Authorization": f"basic {raw}"}),
        "admin client": dict(data={"token": world.agency.token}, headers=world.agency.admin_headers),
        "missing token": dict(data={"token_type_hint": "access_token"}, headers=rs),
        "empty token": dict(data={"token": ""}, headers=rs),
        "garbage token": dict(data={"token": "garbage"}, headers=rs),
        "tampered token": dict(
            data={"token": forge.tampered(world.agency.token, sub=world.other.integration_id)}, headers=rs
        ),
        "odd hint": dict(data={"token": world.agency.token, "token_type_hint": "refresh_token"}, headers=rs),
        "repeated token field": dict(  # RFC 6749 section 3.1: 400 invalid_request, never first-value-wins
            data=f"token={world.agency.token}&token=garbage",
            headers=rs,
            content_type="application/x-www-form-urlencoded",
        ),
        "repeated token, same value": dict(
            data=f"token={world.agency.token}&token={world.agency.token}",
            headers=rs,
            content_type="application/x-www-form-urlencoded",
        ),
        "repeated client_secret": dict(
            data=f"token={world.agency.token}&client_id={client_id}&client_secret={secret}&client_secret={secret}",
            content_type="application/x-www-form-urlencoded",
        ),
        "multipart body": dict(data={"token": world.agency.token}, headers=rs, content_type="multipart/form-data"),
        "no content type": dict(data=f"token={world.agency.token}", headers=rs),
        "percent-encoded and plus signs": dict(
            data="token=a+b%20c%ff", headers=rs, content_type="application/x-www-form-urlencoded"
        ),
        "charset parameter": dict(
            data=f"token={world.agency.token}",
            headers=rs,
            content_type="application/x-www-form-urlencoded; charset=UTF-8",
        ),
        "empty body": dict(data=b"", headers=rs, content_type="application/x-www-form-urlencoded"),
        "no body and no type, no credentials": dict(data=b""),  # nothing to misread: 401 invalid_client
        "no body and no type": dict(data=b"", headers=rs),  # authenticated, then 400: no token
    }


CASES = [
    "active",
    "active, client_secret_post",
    "two methods at once",
    "no credentials",
    "wrong secret",
    "unknown client",
    "malformed basic",
    "lower-case scheme",
    "admin client",
    "missing token",
    "empty token",
    "garbage token",
    "tampered token",
    "odd hint",
    "repeated token field",
    "repeated token, same value",
    "repeated client_secret",
    "multipart body",
    "no content type",
    "percent-encoded and plus signs",
    "charset parameter",
    "empty body",
    "no body and no type, no credentials",
    "no body and no type",
]


@pytest.mark.parametrize("case", CASES)
def test_every_answer_matches_the_flask_route(shared, case):
    _compare(shared, **_cases(shared.world, shared.services)[case])


def test_a_bound_resource_service_and_another_accounts_token_match(shared):
    with shared.app.app_context():
        bound = basic(
            *make_client(
                shared.clock, kind="resource-service", account_id=shared.world.agency.account_id, name="bound-direct"
            )
        )
    assert _compare(shared, data={"token": shared.world.other.token}, headers=bound).get_json() == {"active": False}
    assert _compare(shared, data={"token": shared.world.agency.token}, headers=bound).get_json()["active"] is True


def test_a_token_limited_to_named_services_matches_for_its_service_another_and_an_unbound_one(shared):
    """RFC 8707: active only for the service its ``aud`` names, on both paths."""
    with shared.app.app_context():
        mine = basic(*make_client(shared.clock, name="direct A", resource="https://a.example.com"))
        another = basic(*make_client(shared.clock, name="direct B", resource="https://b.example.com"))
        integration = make_integration(
            shared.clock, shared.world.agency.account_id, name="limited", resources=["https://a.example.com"]
        )
        token = issue_token(shared.services, shared.clock, integration.id).token
    assert _compare(shared, data={"token": token}, headers=mine).get_json()["active"] is True
    assert _compare(shared, data={"token": token}, headers=another).get_json() == {"active": False}
    assert _compare(shared, data={"token": token}, headers=shared.world.rs_headers).get_json() == {"active": False}


def test_a_token_bound_to_a_dpop_key_matches_with_its_cnf_and_type(shared):
    """RFC 9449 section 6.2: both paths answer ``token_type`` DPoP and ``cnf.jkt`` for a bound token."""
    jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # RFC 7638 section 3.1's example thumbprint
    with shared.app.app_context():
        integration = make_integration(shared.clock, shared.world.agency.account_id, name="bound", dpop_jkt=jkt)
        token = issue_token(shared.services, shared.clock, integration.id).token
    answer = _compare(shared, data={"token": token}, headers=shared.world.rs_headers).get_json()
    assert (answer["active"], answer["token_type"], answer["cnf"]) == (True, "DPoP", {"jkt": jkt})
    stripped = forge.resign(shared.services, token, drop=("cnf",))
    assert _compare(shared, data={"token": stripped}, headers=shared.world.rs_headers).get_json() == {"active": False}


def test_a_sane_request_id_is_echoed_and_a_hostile_one_replaced(shared):
    direct, _ = _answers(shared)
    headers = {**shared.world.rs_headers, "X-Request-Id": "trace-42"}
    assert direct.post("/oauth/introspect", data={"token": "x"}, headers=headers).headers["X-Request-Id"] == "trace-42"
    hostile = {**shared.world.rs_headers, "X-Request-Id": "a" * 65}
    assert len(direct.post("/oauth/introspect", data={"token": "x"}, headers=hostile).headers["X-Request-Id"]) == 16


@pytest.mark.parametrize(
    "case",
    [
        "repeated token field",
        "repeated token, same value",
        "repeated client_secret",
        "multipart body",
        "no content type",
    ],
)
def test_repeated_parameters_and_foreign_content_types_are_400_invalid_request_on_both_paths(shared, case):
    """RFC 6749 section 3.1 (no parameter twice) and RFC 7662 section 2.1 (a urlencoded form)."""
    answer = _compare(shared, **_cases(shared.world, shared.services)[case])
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "how", ["json body", "multipart body", "chunked body", "oversized body", "not utf-8", "chunked oversized body"]
)
def test_requests_it_was_not_built_for_reach_the_flask_route(shared, how):
    """Each of these reaches the Flask route (same answer through both callables) and is answered by it."""
    token = shared.world.agency.token
    requests = {
        "json body": dict(json={"token": token}),
        "multipart body": dict(data={"token": token}, content_type="multipart/form-data"),
        "chunked body": dict(
            data=f"token={token}",
            content_type="application/x-www-form-urlencoded",
            headers={"Transfer-Encoding": "chunked"},
        ),
        "oversized body": dict(
            data=f"token={token}&pad={'x' * 20000}", content_type="application/x-www-form-urlencoded"
        ),
        "chunked oversized body": dict(
            data=f"token={token}&pad={'x' * (1024 * 1024)}",
            content_type="application/x-www-form-urlencoded",
            headers={"Transfer-Encoding": "chunked"},
        ),
        "not utf-8": dict(data=b"token=\xff\xfe", content_type="application/x-www-form-urlencoded"),
    }[how]
    headers = {**shared.world.rs_headers, **requests.pop("headers", {})}
    environ = EnvironBuilder(path="/oauth/introspect", method="POST", headers=headers, **requests).get_environ()
    body = environ["wsgi.input"].read()
    environ["wsgi.input"] = BytesIO(body)
    assert shared.app.wsgi_app._read_form(environ) is None  # not taken by the direct path ...
    assert environ["wsgi.input"].read() == body  # ... and the body is left whole for Flask to read
    answer = _compare(shared, headers=headers, **requests)
    assert answer.status_code in (200, 400, 413)
    if how == "chunked oversized body":
        assert answer.status_code == 413  # refused whole, not cut at the limit and parsed


def test_plain_http_to_a_public_host_is_refused_as_authlib_refuses_it(shared):
    """authlib's transport check runs on the direct path too: plain HTTP is only for loopback."""
    direct, _ = _answers(shared)
    response = _compare(
        shared,
        data={"token": shared.world.agency.token},
        headers=shared.world.rs_headers,
        base_url="http://auth.example.com",
    )
    assert response.status_code == 400 and response.get_json()["error"] == "insecure_transport"
    secure = direct.post(
        "/oauth/introspect",
        data={"token": shared.world.agency.token},
        headers=shared.world.rs_headers,
        base_url="https://auth.example.com",
    )
    assert secure.status_code == 200 and secure.get_json()["active"] is True


def test_a_disabled_rotated_out_or_deleted_client_is_refused_alike_on_both_paths_at_once(shared):
    now = shared.clock.now()
    with shared.app.app_context():
        client_id, secret = make_client(shared.clock, kind="resource-service", name="lifecycle-direct")
    request = dict(data={"token": shared.world.agency.token}, headers=basic(client_id, secret))
    assert _compare(shared, **request).get_json()["active"] is True  # both paths have seen the client
    with shared.app.app_context(), unit_of_work():
        set_client_enabled(OPERATOR, client_id, False, now=now)
    assert _compare(shared, **request).get_json()["error"] == "invalid_client"
    with shared.app.app_context(), unit_of_work():
        set_client_enabled(OPERATOR, client_id, True, now=now)
        _client, new_secret = rotate_client_secret(OPERATOR, client_id, overlap=0, now=now)
    assert _compare(shared, **request).status_code == 401
    rotated = dict(data={"token": shared.world.agency.token}, headers=basic(client_id, new_secret))
    assert _compare(shared, **rotated).get_json()["active"] is True
    with shared.app.app_context(), unit_of_work():
        delete_client(OPERATOR, client_id, now=now)
    assert _compare(shared, **rotated).get_json()["error"] == "invalid_client"


def test_a_client_over_its_own_limit_gets_the_same_429_and_retry_after_on_both_paths(shared):
    """A client's own limit (``clients.set_client_limit``) is read with its row on either path; the refusal is
    RFC 6585's 429 with ``Retry-After`` in whole seconds, body ``temporarily_unavailable``, alike on both."""
    with shared.app.app_context():
        client_id, secret = make_client(shared.clock, kind="resource-service", name="limited-direct")
        with unit_of_work():
            set_client_limit(OPERATOR, client_id, introspection="1/1h", default=None, now=shared.clock.now())
    request = dict(data={"token": shared.world.agency.token}, headers=basic(client_id, secret))
    direct, _ = _answers(shared)
    assert direct.post("/oauth/introspect", **request).status_code == 200  # the one request of the hour
    refused = _compare(shared, **request)
    assert refused.status_code == 429 and refused.get_json()["error"] == "temporarily_unavailable"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
