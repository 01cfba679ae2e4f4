"""Attacks on the protocol surface: introspection without or with wrong client authentication, by the wrong kind
of client or tenant; revocation of another account's token; token-type-hint abuse; the event feed and usage
reports as another tenant. Each asserts the exact status and RFC error, and that nothing changed."""

from __future__ import annotations

import base64

import pytest
import requests

from .forge import foreign_rsa, parts, sign

TIMEOUT = 30


@pytest.fixture(scope="module")
def issued(target) -> dict:
    return target.agency.integration_with_token()


def introspect_raw(target, **kwargs) -> requests.Response:
    return requests.post(f"{target.url}/oauth/introspect", timeout=TIMEOUT, **kwargs)


def assert_invalid_client(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert "active" not in response.json()


# -- introspection: who may ask ---------------------------------------------------------------------------------
def test_introspection_without_client_authentication_is_401_invalid_client(target, issued):
    assert_invalid_client(introspect_raw(target, data={"token": issued["token"]}))


@pytest.mark.parametrize("how", ["basic", "post"])
def test_introspection_with_a_wrong_secret_is_401_invalid_client(target, issued, how):
    client_id, secret = target.resource_service
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    kwargs = (
        {"auth": (client_id, wrong), "data": {"token": issued["token"]}}
        if how == "basic"
        else {"data": {"token": issued["token"], "client_id": client_id, "client_secret": wrong}}
    )
    assert_invalid_client(introspect_raw(target, **kwargs))


@pytest.mark.parametrize("client_id", ["cli_doesnotexist0000000000", "' OR '1'='1", "c" * 5000, "\u00e9\u0000x"])
def test_introspection_by_an_unknown_or_injected_client_id_is_401(target, issued, client_id):
    assert_invalid_client(introspect_raw(target, data={"token": issued["token"]}, auth=(client_id, "secret")))


def test_introspection_by_an_admin_client_instead_of_a_resource_service_is_400_unauthorized_client(target, issued):
    response = introspect_raw(target, data={"token": issued["token"]}, auth=target.agency.credentials)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client", response.text
    assert "active" not in response.json()


def test_introspection_with_the_token_itself_as_bearer_credentials_is_401(target, issued):
    assert_invalid_client(
        introspect_raw(target, data={"token": issued["token"]}, headers={"Authorization": f"Bearer {issued['token']}"})
    )


MALFORMED_BASIC = {
    "not_base64": "Basic !!!",
    "no_colon": "Basic " + base64.b64encode(b"justanid").decode(),
    "empty": "Basic ",
    "only_colon": "Basic " + base64.b64encode(b":").decode(),
    "not_utf8": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "huge_secret": "Basic " + base64.b64encode(b"cli_x:" + b"s" * 20000).decode(),
    "lowercase_scheme_wrong_secret": "basic " + base64.b64encode(b"cli_x:nope").decode(),
}


@pytest.mark.parametrize("header", MALFORMED_BASIC.values(), ids=MALFORMED_BASIC.keys())
def test_malformed_basic_credentials_are_401_not_500(target, issued, header):
    assert_invalid_client(introspect_raw(target, data={"token": issued["token"]}, headers={"Authorization": header}))


def test_client_credentials_in_the_query_string_are_ignored(target, issued):
    client_id, secret = target.resource_service
    assert_invalid_client(
        introspect_raw(
            target, params={"client_id": client_id, "client_secret": secret}, data={"token": issued["token"]}
        )
    )


def test_two_client_authentication_methods_at_once_are_400_invalid_request(target, issued):
    client_id, secret = target.resource_service
    agency_id, agency_secret = target.agency.credentials
    response = introspect_raw(
        target,
        auth=(agency_id, "wrong"),
        data={"token": issued["token"], "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_in_the_query_string_is_400_and_never_read(target, issued):
    response = introspect_raw(target, params={"token": issued["token"]}, auth=target.resource_service)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and "active" not in response.json()


def test_json_body_instead_of_a_form_is_400(target, issued):
    response = introspect_raw(target, json={"token": issued["token"]}, auth=target.resource_service)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "send the parameters as application/x-www-form-urlencoded",
    }


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
def test_get_on_the_token_endpoints_is_405(target, issued, path):
    response = requests.get(
        f"{target.url}{path}", params={"token": issued["token"]}, auth=target.resource_service, timeout=TIMEOUT
    )
    assert response.status_code == 405


def test_account_bound_resource_service_sees_another_accounts_token_as_inactive(target, issued):
    other = target.other.integration_with_token()
    response = introspect_raw(target, data={"token": other["token"]}, auth=target.agency_service)
    assert response.status_code == 200
    assert response.json() == {"active": False}
    mine = introspect_raw(target, data={"token": issued["token"]}, auth=target.agency_service)
    assert mine.json()["active"] is True


# -- token_type_hint: it never changes an answer -----------------------------------------------------------------
HINTS = [
    "refresh_token",
    "access_token",
    "bogus",
    "' OR '1'='1",
    "",
    "h" * 5000,
    "urn:ietf:params:oauth:token-type:jwt",
]


@pytest.mark.parametrize("hint", HINTS)
def test_token_type_hint_never_changes_the_introspection_answer(target, issued, hint):
    live = target.introspect(issued["token"], token_type_hint=hint)
    assert live.status_code == 200, live.text
    assert live.json()["active"] is True and live.json()["jti"] == issued["token_id"]
    garbage = target.introspect("garbage", token_type_hint=hint)
    assert (garbage.status_code, garbage.json()) == (200, {"active": False})


@pytest.mark.parametrize("hint", ["refresh_token", "bogus"])
def test_token_type_hint_never_changes_the_revocation_answer(target, hint):
    """RFC 7009 section 2.1: an invalid hint is ignored and does not influence the revocation."""
    token = target.agency.integration_with_token()["token"]
    response = target.revoke(token, auth=target.agency.credentials, token_type_hint=hint)
    assert (response.status_code, response.json()) == (200, {})
    assert not target.is_active(token)


# -- revocation: only the owner's admins, or whoever holds the token ---------------------------------------------
def test_revocation_of_another_accounts_token_is_200_and_revokes_nothing(target):
    victim = target.other.integration_with_token()
    response = target.revoke(victim["token"], auth=target.agency.credentials)
    assert (response.status_code, response.json()) == (200, {})
    assert target.is_active(victim["token"])


def test_revocation_of_the_agencys_token_by_its_sub_account_admin_revokes_nothing(target):
    victim = target.agency.integration_with_token()
    response = target.revoke(victim["token"], auth=target.sub.credentials)
    assert (response.status_code, response.json()) == (200, {})
    assert target.is_active(victim["token"])


def test_revocation_by_a_resource_service_is_400_unauthorized_client_and_revokes_nothing(target):
    victim = target.agency.integration_with_token()
    response = target.revoke(victim["token"], auth=target.resource_service)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client", response.text
    assert "WWW-Authenticate" not in response.headers
    assert target.is_active(victim["token"])


def test_revocation_with_a_wrong_secret_is_401_and_revokes_nothing(target):
    victim = target.agency.integration_with_token()
    assert_invalid_client(target.revoke(victim["token"], auth=(target.agency.client_id, "wrong")))
    assert target.is_active(victim["token"])


def test_revocation_naming_a_client_id_without_its_secret_does_not_fall_back_to_possession(target):
    victim = target.other.integration_with_token()
    assert_invalid_client(target.revoke(victim["token"], client_id=target.other.client_id))
    assert target.is_active(victim["token"])


def test_forged_token_naming_a_real_jti_revokes_nothing_for_a_token_holder(target):
    victim = target.other.integration_with_token()
    header, claims = parts(victim["token"])
    forged = sign(header, claims, foreign_rsa(), "RS256")
    response = target.revoke(forged)
    assert (response.status_code, response.json()) == (200, {})
    assert target.is_active(victim["token"])


# -- the feed and usage reports: resource services only, and only their own account ---------------------------------
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/oauth/events"), ("GET", "/oauth/events/snapshot"), ("POST", "/oauth/usage")]
)
def test_feed_and_usage_refuse_admin_clients_and_anonymous_callers(target, method, path):
    response = requests.request(method, f"{target.url}{path}", auth=None, json={"uses": []}, timeout=TIMEOUT)
    assert_invalid_client(response)
    # An admin client proves who it is but may not use these endpoints: RFC 6749 section 5.2, no challenge.
    response = requests.request(
        method, f"{target.url}{path}", auth=target.agency.credentials, json={"uses": []}, timeout=TIMEOUT
    )
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client", response.text
    assert "WWW-Authenticate" not in response.headers


def test_usage_reported_for_another_accounts_token_is_not_accepted(target):
    victim = target.other.integration_with_token()
    response = requests.post(
        f"{target.url}/oauth/usage",
        auth=target.agency_service,
        timeout=TIMEOUT,
        json={"uses": [{"jti": victim["token_id"], "count": 1000}]},
    )
    assert (response.status_code, response.json()) == (202, {"accepted": 0})


def test_account_bound_service_snapshot_and_feed_show_only_its_account(target):
    victim = target.other.integration_with_token()
    assert target.revoke(victim["token"], auth=target.other.credentials).status_code == 200
    snapshot = requests.get(f"{target.url}/oauth/events/snapshot", auth=target.agency_service, timeout=TIMEOUT)
    feed = requests.get(f"{target.url}/oauth/events", auth=target.agency_service, timeout=TIMEOUT)
    assert snapshot.status_code == feed.status_code == 200
    assert victim["integration_id"] not in snapshot.text and victim["token_id"] not in snapshot.text
    assert victim["token_id"] not in feed.text and target.other.account_id not in feed.text


def test_unknown_client_and_wrong_secret_get_the_same_answer_so_client_ids_cannot_be_enumerated(target, issued):
    unknown = introspect_raw(target, data={"token": issued["token"]}, auth=("cli_doesnotexist0000000000", "s"))
    wrong = introspect_raw(target, data={"token": issued["token"]}, auth=(target.resource_service[0], "s"))
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())
    unknown_post = introspect_raw(
        target, data={"token": issued["token"], "client_id": "cli_nope", "client_secret": "s"}
    )
    assert (unknown_post.status_code, unknown_post.json()) == (wrong.status_code, wrong.json())
