"""A resource service answered with signed introspection always (RFC 9701 section 6), set through the CLI, the
admin API and the admin UI, audited, and holding from the service's next request on both serving paths."""

from __future__ import annotations

import json
import re

import jwt
import pytest
from werkzeug.test import Client

from authserver.clients import set_introspection_signing
from authserver.extensions import db
from authserver.models import ApiClient
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, make_client
from tests.support.admin_ui import ADMIN, MEMBER, add_people, signed_in

from .problems import assert_problem

JWT_TYPE = "application/token-introspection+jwt"
SETTING = "introspection-signing"


@pytest.fixture
def people(app, world, clock):
    add_people(world, clock)
    return world


@pytest.fixture
def agency_service(people, clock):
    return make_client(clock, kind="resource-service", account_id=people.agency.account_id, name="Agency service")


def page_path(world) -> str:
    return f"/accounts/{world.agency.account_id}/settings/clients"


def _introspect(app, world, auth, accept=None, direct=True):
    """On the direct path (the app's WSGI callable) or the Flask route (the callable it wraps)."""
    wsgi = app.wsgi_app if direct else app.wsgi_app.wsgi_app
    headers = dict(basic(*auth), **({"Accept": accept} if accept else {}))
    return Client(wsgi).post("/oauth/introspect", data={"token": world.agency.token}, headers=headers)


def _is_signed_for(client, response, client_id) -> bool:
    if response.headers["Content-Type"] != JWT_TYPE:
        assert response.headers["Content-Type"] == "application/json"
        return False
    token = response.get_data(as_text=True)
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in client.get("/.well-known/jwks.json").get_json()["keys"] if k["kid"] == kid)
    key = jwt.PyJWK(jwk)
    claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=client_id)
    assert claims["token_introspection"]["active"] is True
    return True


def _audit(client, world, client_id):
    events = client.get(f"/api/accounts/{world.agency.account_id}/audit", headers=world.agency.admin_headers)
    return [
        (e["before"], e["after"])
        for e in events.get_json()["events"]
        if e["action"] == "client.introspection_signing_changed" and e["target"]["id"] == client_id
    ]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", f"{JWT_TYPE};q=0"])
def test_always_signs_every_answer_from_the_next_request_on_both_paths(app, client, world, clock, accept):
    auth = make_client(clock, name="always")
    for direct in (True, False):
        assert not _is_signed_for(client, _introspect(app, world, auth, accept, direct), auth[0])
    with unit_of_work():
        set_introspection_signing(OPERATOR, auth[0], always=True, now=clock.now())
    for direct in (True, False):
        assert _is_signed_for(client, _introspect(app, world, auth, accept, direct), auth[0])
    with unit_of_work():
        set_introspection_signing(OPERATOR, auth[0], always=False, now=clock.now())
    for direct in (True, False):
        assert not _is_signed_for(client, _introspect(app, world, auth, accept, direct), auth[0])


def test_always_leaves_errors_json(app, client, world, clock):
    auth = make_client(clock, name="always errors")
    with unit_of_work():
        set_introspection_signing(OPERATOR, auth[0], always=True, now=clock.now())
    for direct in (True, False):
        wsgi = Client(app.wsgi_app if direct else app.wsgi_app.wsgi_app)
        missing = wsgi.post("/oauth/introspect", data={"token_type_hint": "x"}, headers=basic(*auth))
        assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
        wrong = wsgi.post("/oauth/introspect", data={"token": "x"}, headers=basic(auth[0], auth[1] + "x"))
        assert wrong.status_code == 401 and wrong.headers["Content-Type"] == "application/json"


# -- admin API ---------------------------------------------------------------------------------------------------
def test_the_admin_api_sets_it_shows_it_and_audits_it(client, world, clock, people, agency_service):
    path = f"/api/clients/{agency_service[0]}"
    headers = world.agency.admin_headers
    assert client.get(path, headers=headers).get_json()["introspection_signing"] == "when_asked"
    answer = client.put(f"{path}/introspection-signing", json={"introspection_signing": "always"}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["introspection_signing"] == "always"
    assert client.get(path, headers=headers).get_json()["introspection_signing"] == "always"
    assert _is_signed_for(client, _introspect(client.application, world, agency_service), agency_service[0])
    again = client.put(f"{path}/introspection-signing", json={"introspection_signing": "always"}, headers=headers)
    assert again.status_code == 200  # no change: not audited twice
    back = client.put(f"{path}/introspection-signing", json={"introspection_signing": "when_asked"}, headers=headers)
    assert back.get_json()["introspection_signing"] == "when_asked"
    assert _audit(client, world, agency_service[0]) == [
        ({"introspection_signing": "always"}, {"introspection_signing": None}),
        ({"introspection_signing": None}, {"introspection_signing": "always"}),
    ]


@pytest.mark.parametrize("body", [{}, {"introspection_signing": "sometimes"}, {"introspection_signing": True}, []])
def test_the_admin_api_refuses_a_bad_value_with_a_problem(client, world, agency_service, body):
    answer = client.put(
        f"/api/clients/{agency_service[0]}/introspection-signing", json=body, headers=world.agency.admin_headers
    )
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert db.session.get(ApiClient, agency_service[0]).introspection_signing is None


def test_the_admin_api_refuses_it_for_an_admin_client_and_another_accounts_service(client, world, people):
    headers = world.agency.admin_headers
    body = {"introspection_signing": "always"}
    admin = client.put(f"/api/clients/{world.agency.admin_client[0]}/introspection-signing", json=body, headers=headers)
    assert_problem(admin, 400)
    foreign = client.put(
        f"/api/clients/{world.other.admin_client[0]}/introspection-signing", json=body, headers=headers
    )
    assert foreign.status_code in (403, 404)


# -- CLI ---------------------------------------------------------------------------------------------------------
def test_the_cli_sets_it_with_always_and_when_asked(runner, world, clock):
    client_id, _secret = make_client(clock, name="cli service")
    result = runner.invoke(args=["client", "set-introspection-signing", client_id, "--always", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["introspection_signing"] == "always"
    text = runner.invoke(args=["client", "set-introspection-signing", client_id, "--when-asked"])
    assert text.exit_code == 0 and "when asked" in text.stdout
    assert db.session.get(ApiClient, client_id).introspection_signing is None


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["{admin}", "--always"], "only a resource service"),
        (["cli_nobody", "--always"], "not found"),
        (["{service}"], "--always"),
    ],
)
def test_the_cli_refuses_in_one_line(runner, world, clock, args, fragment):
    service, _ = make_client(clock, name="cli refusals")
    args = [a.format(admin=world.agency.admin_client[0], service=service) for a in args]
    result = runner.invoke(args=["client", "set-introspection-signing", *args])
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert fragment in result.stderr


# -- admin UI ----------------------------------------------------------------------------------------------------
def _signing_cells(html):
    return dict(re.findall(r'<tr data-client="([^"]+)">.*?data-signing="([^"]*)"', html, re.S))


def test_the_page_shows_the_setting_and_changes_it_after_a_confirmation(app, client, people, agency_service):
    admin = signed_in(app, ADMIN)
    html = admin.get(page_path(people)).text
    assert _signing_cells(html)[agency_service[0]] == "when_asked"
    dialog = admin.get(f"{page_path(people)}?confirm=signing&client={agency_service[0]}").text
    assert re.search(rf'id="confirm-signing-{agency_service[0]}"[^>]*\sopen', dialog)
    path = f"{page_path(people)}/{agency_service[0]}/introspection-signing"
    assert admin.post(path, {"introspection_signing": "always"}).status_code == 302
    shown = admin.get(page_path(people)).text
    assert _signing_cells(shown)[agency_service[0]] == "always"
    assert "every introspection answer signed" in shown  # the flash
    assert _is_signed_for(client, _introspect(app, people, agency_service), agency_service[0])
    assert admin.post(path, {"introspection_signing": "when_asked"}).status_code == 302
    assert not _is_signed_for(client, _introspect(app, people, agency_service), agency_service[0])
    assert len(_audit(client, people, agency_service[0])) == 2


def test_the_page_refuses_a_bad_value_a_member_and_a_forged_form(app, people, agency_service):
    admin = signed_in(app, ADMIN)
    path = f"{page_path(people)}/{agency_service[0]}/introspection-signing"
    assert admin.post(path, {"introspection_signing": "sometimes"}).status_code == 302
    assert db.session.get(ApiClient, agency_service[0]).introspection_signing is None
    forged = admin.client.post(path, data={"csrf_token": "forged", "introspection_signing": "always"})
    assert forged.status_code == 403
    member = signed_in(app, MEMBER)
    assert 'data-dialog="confirm-signing-' not in member.get(page_path(people)).text
    assert member.post(path, {"introspection_signing": "always"}).status_code == 403
    assert db.session.get(ApiClient, agency_service[0]).introspection_signing is None
