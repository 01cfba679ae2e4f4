"""Integrations bound to a DPoP key (RFC 9449), on the server: registering the key through the admin API and the
CLI, bad keys refused with a problem or one error line, tokens minted with ``cnf.jkt`` and recorded, introspection
answering ``token_type`` DPoP with ``cnf``, a binding change applying to new tokens only (live ones marked), and a
token whose ``cnf`` differs from its record inactive."""

from __future__ import annotations

import json

import jwt
import pytest
from joserfc.jwk import ECKey

from tests.factories import issue_token, make_integration
from tests.support.admin_ui import ADMIN, add_people, signed_in

from . import forge
from .problems import assert_problem
from .test_cli import assert_one_line_error, run_json

DPOP, BEARER = "DPoP", "Bearer"  # token types (RFC 9449 section 5, RFC 6750)
KEY = ECKey.generate_key("P-256")
JWK = KEY.as_dict(private=False)
JKT = KEY.thumbprint()
OTHER_JKT = ECKey.generate_key("P-256").thumbprint()


def create(client, world, **body):
    body = {"name": "Zapier", "scopes": ["contacts.readonly"], **body}
    return client.post(
        f"/api/accounts/{world.agency.account_id}/integrations", json=body, headers=world.agency.admin_headers
    )


def patch(client, world, integration_id, **body):
    return client.patch(f"/api/integrations/{integration_id}", json=body, headers=world.agency.admin_headers)


def generate(client, world, integration_id):
    response = client.post(f"/api/integrations/{integration_id}/tokens", json={}, headers=world.agency.admin_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def introspect(client, world, token):
    return client.post("/oauth/introspect", data={"token": token}, headers=world.rs_headers).get_json()


def test_a_jwk_registered_through_the_api_binds_new_tokens_and_introspection_says_dpop(client, world):
    created = create(client, world, dpop_jwk=JWK)
    assert created.status_code == 201
    body = created.get_json()
    assert body["dpop_jkt"] == JKT
    issued = generate(client, world, body["id"])
    assert issued["token_type"] == DPOP and issued["dpop_jkt"] == JKT
    assert jwt.decode(issued["token"], options={"verify_signature": False})["cnf"] == {"jkt": JKT}
    answer = introspect(client, world, issued["token"])
    assert answer["active"] is True and answer["token_type"] == DPOP and answer["cnf"] == {"jkt": JKT}


def test_an_unbound_integration_is_unchanged(client, world):
    body = create(client, world).get_json()
    assert body["dpop_jkt"] is None
    issued = generate(client, world, body["id"])
    assert issued["token_type"] == BEARER and issued["dpop_jkt"] is None
    assert "cnf" not in jwt.decode(issued["token"], options={"verify_signature": False})
    answer = introspect(client, world, issued["token"])
    assert answer["token_type"] == BEARER and "cnf" not in answer


def test_a_binding_change_applies_to_new_tokens_and_marks_the_live_one(client, world):
    body = create(client, world, dpop_jkt=JKT).get_json()
    first = generate(client, world, body["id"])
    changed = patch(client, world, body["id"], dpop_jkt=OTHER_JKT)
    assert changed.status_code == 200
    after = changed.get_json()
    assert after["dpop_jkt"] == OTHER_JKT
    assert [(t["token_id"], t["dpop_jkt"], t["dpop_binding_differs"]) for t in after["tokens"]] == [
        (first["token_id"], JKT, True)
    ]
    assert introspect(client, world, first["token"])["cnf"] == {"jkt": JKT}  # keeps its own until rotated
    rotated = client.post(
        f"/api/integrations/{body['id']}/rotate", json={"mode": "now"}, headers=world.agency.admin_headers
    ).get_json()
    assert rotated["dpop_jkt"] == OTHER_JKT
    assert introspect(client, world, rotated["token"])["cnf"] == {"jkt": OTHER_JKT}
    unbound = patch(client, world, body["id"], dpop_jkt=None).get_json()
    assert unbound["dpop_jkt"] is None and unbound["tokens"][0]["dpop_binding_differs"] is True
    listed = client.get(
        f"/api/accounts/{world.agency.account_id}/integrations", headers=world.agency.admin_headers
    ).get_json()
    mine = next(item for item in listed["integrations"] if item["id"] == body["id"])
    assert mine["dpop_jkt"] is None and mine["tokens"][0]["dpop_binding_differs"] is True


def test_the_binding_change_is_audited(client, world):
    body = create(client, world).get_json()
    patch(client, world, body["id"], dpop_jkt=JKT)
    events = client.get(
        f"/api/accounts/{world.agency.account_id}/audit", headers=world.agency.admin_headers
    ).get_json()["events"]
    updated = next(event for event in events if event["action"] == "integration.updated")
    assert (updated["before"]["dpop_jkt"], updated["after"]["dpop_jkt"]) == (None, JKT)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"dpop_jkt": "not-a-thumbprint"}, "43 characters"),
        ({"dpop_jkt": 42}, "43 characters"),
        ({"dpop_jkt": JKT[:-1] + "t"}, "43 characters"),
        ({"dpop_jwk": KEY.as_dict(private=True)}, "private key"),
        ({"dpop_jwk": {"kty": "oct", "k": "c2VjcmV0"}}, "symmetric"),
        ({"dpop_jwk": {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}}, "P-256 or P-384"),
        ({"dpop_jwk": json.dumps(JWK)}, "JWK object"),
        ({"dpop_jwk": [JWK]}, "JWK object"),
        ({"dpop_jwk": JWK, "dpop_jkt": JKT}, "not both"),
    ],
)
def test_bad_keys_are_400_problems_naming_the_field(client, world, body, fragment):
    response = create(client, world, **body)
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] in ("dpop_jkt", "dpop_jwk") and fragment in problem["detail"]
    existing = create(client, world).get_json()
    problem = assert_problem(patch(client, world, existing["id"], **body), 400)
    assert fragment in problem["detail"]


def test_a_token_whose_cnf_differs_from_its_record_is_inactive(app, client, world, services, clock):
    with app.app_context():
        integration = make_integration(clock, world.agency.account_id, name="bound", dpop_jkt=JKT)
        token = issue_token(services, clock, integration.id).token
    assert introspect(client, world, token)["active"] is True
    for forged in (
        forge.resign(services, token, drop=("cnf",)),  # the binding stripped, re-signed with a leaked key
        forge.resign(services, token, claims={"cnf": {"jkt": OTHER_JKT}}),  # bound to the thief's key
        forge.resign(services, world.agency.token, claims={"cnf": {"jkt": JKT}}),  # an unbound token given a cnf
        forge.resign(services, token, claims={"cnf": {"jkt": JKT, "jwk": JWK}}),  # a member we do not understand
    ):
        assert introspect(client, world, forged) == {"active": False}


# -- the CLI --------------------------------------------------------------------------------------------
def test_cli_create_with_a_jwk_file_and_update_with_a_thumbprint_and_no_dpop(runner, world, tmp_path, app, services):
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(JWK))
    account = world.agency.account_id
    created = run_json(
        runner, "integration", "create", "--account", account, "--name", "bound", "--scope", "contacts.readonly",
        "--dpop-jwk", str(key_file),
    )  # fmt: skip
    assert created["dpop_jkt"] == JKT
    issued = run_json(runner, "token", "generate", created["id"])
    assert jwt.decode(issued["token"], options={"verify_signature": False})["cnf"] == {"jkt": JKT}
    updated = run_json(runner, "integration", "update", created["id"], "--dpop-jkt", OTHER_JKT, "--name", "renamed")
    assert updated["dpop_jkt"] == OTHER_JKT and updated["name"] == "renamed"
    assert updated["tokens_binding_differs"] == [issued["token_id"]]
    text = runner.invoke(args=["integration", "update", created["id"], "--no-dpop"])
    assert text.exit_code == 0 and "not bound to a key" in text.stdout and "until rotated" in text.stdout
    stdin = run_json(runner, "integration", "update", created["id"], "--dpop-jwk", "-", input=json.dumps(JWK))
    assert stdin["dpop_jkt"] == JKT


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dpop-jkt", "short"], "43 characters"),
        (["--dpop-jkt", JKT, "--dpop-jwk", "KEYFILE"], "not both"),
        (["--dpop-jwk", "PRIVATEFILE"], "private key"),
        (["--dpop-jwk", "MISSINGFILE"], "cannot read the JWK file"),
        (["--dpop-jwk", "NOTJSONFILE"], "not valid JSON"),
        (["--no-dpop", "--dpop-jkt", JKT], "--no-dpop cannot be combined"),
    ],
)
def test_cli_bad_keys_are_one_error_line_and_a_json_error(runner, world, tmp_path, args, fragment):
    files = {
        "KEYFILE": json.dumps(JWK),
        "PRIVATEFILE": json.dumps(KEY.as_dict(private=True)),
        "NOTJSONFILE": "-----BEGIN PUBLIC KEY-----",
    }
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    args = [str(tmp_path / arg) if arg.isupper() and arg.endswith("FILE") else arg for arg in args]
    integration = world.agency.integration_id
    update = runner.invoke(args=["integration", "update", integration, *args])
    assert_one_line_error(update, fragment)
    as_json = runner.invoke(args=["integration", "update", integration, *args, "--json"])
    assert as_json.exit_code == 1 and as_json.stdout == ""
    error = json.loads(as_json.stderr)["error"]
    assert fragment in error["detail"] and error["code"] == "invalid_input"
    if "--no-dpop" not in args:
        create = runner.invoke(
            args=["integration", "create", "--account", world.agency.account_id, "--name", "x", "--scope",
                  "contacts.readonly", *args]
        )  # fmt: skip
        assert_one_line_error(create, fragment)


def test_the_integration_lists_say_which_integrations_are_bound(runner, client, world, app, clock):
    bound = create(client, world, name="Bound one", dpop_jkt=JKT).get_json()
    create(client, world, name="Plain one")
    listed = runner.invoke(args=["integration", "list", "--account", world.agency.account_id])
    assert listed.exit_code == 0
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert lines[bound["id"]].endswith(f"bound to key {JKT} (DPoP)")
    assert sum("bound to key" in line for line in lines.values()) == 1
    add_people(world, clock, member=False)
    page = signed_in(app, ADMIN).get(f"/accounts/{world.agency.account_id}/settings/integrations").text
    row = page[page.index(f'data-integration="{bound["id"]}"') :]
    assert "Bound to a key (DPoP)" in row[: row.index("</tr>")]
    assert page.count("Bound to a key (DPoP)") == 1
