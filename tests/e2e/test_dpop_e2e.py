"""End to end, over real processes on 127.0.0.1: DPoP-bound tokens (RFC 9449) through the real authorization server
and real resource_demo instances, in introspection and local modes. The client's key is generated here and every
proof is built by hand with joserfc (not the PyJWT the resource side verifies with). Each bad proof gets its RFC 9449
error; a replayed proof is refused by another instance sharing the Redis replay cache; a stolen bound token without
the key is refused everywhere."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import pytest
import redis
import requests
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, RSAKey

from tests.support.resource_demo import AdminApi, cli_batch, make_resource_demo
from tests.support.servers import make_authserver

READ = "contacts.readonly"
ALGS = "ES256 ES384 PS256 RS256 EdDSA"
REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_available() -> bool:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def proof_for(key, method: str, url: str, token: str | None, *, alg: str = "ES256", **claims) -> str:
    """An RFC 9449 section 4.2 proof: typ dpop+jwt, the public jwk, jti/htm/htu/iat and ath of ``token``."""
    body: dict = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        body["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    body |= claims
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    return jose_jwt.encode(header, body, key, algorithms=[alg])


def call(url: str, token: str, proof: str | None = None, *, scheme: str = "DPoP", method: str = "GET"):
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return requests.request(method, url, headers=headers, timeout=15)


def assert_refused(response: requests.Response, error: str) -> None:
    """401 with the RFC 9449 error as a DPoP challenge (section 7.1) and in the JSON body."""
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge, challenge
    assert f'algs="{ALGS}"' in challenge
    assert response.json()["error"] == error


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"))
    server.start()
    try:
        account, admin, service = cli_batch(
            server,
            ("account", "create", "--name", "Acme", "--json"),
            ("client", "create", "--name", "acme-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
            ("client", "create", "--name", "crm", "--kind", "resource-service", "--json"),
        )
        yield server, AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"]), service
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client_key():
    return ECKey.generate_key("P-256")


def bound_token(admin: AdminApi, name: str, key) -> str:
    """An integration bound to ``key`` by its public JWK through the admin API, and a token of it."""
    body = {"name": name, "scopes": [READ], "dpop_jwk": key.as_dict(private=False)}
    integration = admin.call("POST", f"/api/accounts/{admin.account_id}/integrations", 201, json=body)
    assert integration["dpop_jkt"] == key.thumbprint()
    return admin.generate_token(integration["id"])


def start_demo(world, workdir, mode: str, **env: str):
    server, _, service = world
    demo = make_resource_demo(
        workdir,
        authserver_url=server.url,
        client_id=service["client_id"],
        client_secret=service["client_secret"],
        mode=mode,
        **env,
    )
    demo.env.setdefault("RESOURCE_DEMO_PUBLIC_URL", demo.url)  # the URL clients call, as a deployment sets it
    return demo.start()


@pytest.fixture(params=["introspection", "local"])
def demo(request, world, tmp_path):
    process = start_demo(world, tmp_path / "demo", request.param)
    yield process, request.param
    process.stop()


def test_bound_tokens_work_with_a_proof_and_each_bad_proof_gets_its_rfc_9449_error(world, demo, client_key):
    process, mode = demo
    _, admin, _ = world
    token = bound_token(admin, f"bound ({mode})", client_key)
    url = process.url + "/v2/contacts"

    first = call(url, token, proof_for(client_key, "GET", url, token))
    assert first.status_code == 200, first.text
    again = call(url, token, proof_for(client_key, "GET", url, token))  # a new proof each call: served again
    assert again.status_code == 200, again.text
    with_query = call(url + "?limit=5", token, proof_for(client_key, "GET", url, token))  # htu has no query
    assert with_query.status_code == 200, with_query.text

    other_url = process.url + "/v2/calendars"
    assert_refused(call(url, token, proof_for(client_key, "GET", other_url, token)), "invalid_dpop_proof")
    assert_refused(call(url, token, proof_for(client_key, "POST", url, token)), "invalid_dpop_proof")
    replayed = proof_for(client_key, "GET", url, token)
    assert call(url, token, replayed).status_code == 200
    assert_refused(call(url, token, replayed), "invalid_dpop_proof")
    old = proof_for(client_key, "GET", url, token, iat=int(time.time()) - 120)
    assert_refused(call(url, token, old), "invalid_dpop_proof")
    assert_refused(call(url, token, proof_for(client_key, "GET", url, None)), "invalid_dpop_proof")  # no ath
    thief = ECKey.generate_key("P-256")
    stolen = call(url, token, proof_for(thief, "GET", url, token))  # the thief's own key: thumbprint mismatch
    assert_refused(stolen, "invalid_dpop_proof")
    assert "not the key the access token is bound to" in stolen.json()["error_description"]
    assert_refused(call(url, token, scheme="Bearer"), "invalid_token")  # bound token downgraded to bearer
    assert_refused(call(url, token, proof_for(client_key, "GET", url, token), scheme="Bearer"), "invalid_token")
    assert_refused(call(url, token), "invalid_dpop_proof")  # no proof at all

    unbound = admin.generate_token(admin.create_integration(f"unbound ({mode})", [READ]))
    assert call(url, unbound, scheme="Bearer").status_code == 200  # bearer tokens are as before
    assert_refused(call(url, unbound, proof_for(client_key, "GET", url, unbound)), "invalid_token")  # section 7.2

    missing = requests.get(url, timeout=15)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].endswith(f', DPoP algs="{ALGS}"')  # both schemes offered


def test_an_rsa_bound_integration_by_thumbprint(world, tmp_path):
    """Bound by ``dpop_jkt`` alone (the key never sent to the server), RS256 proofs, in local mode."""
    _, admin, _ = world
    key = RSAKey.generate_key(2048)
    body = {"name": "rsa bound", "scopes": [READ], "dpop_jkt": key.thumbprint()}
    integration = admin.call("POST", f"/api/accounts/{admin.account_id}/integrations", 201, json=body)
    token = admin.generate_token(integration["id"])
    process = start_demo(world, tmp_path / "demo", "local")
    try:
        url = process.url + "/v2/contacts"
        assert call(url, token, proof_for(key, "GET", url, token, alg="RS256")).status_code == 200
        assert_refused(call(url, token, proof_for(key, "GET", url, token, alg="PS256", ath="x")), "invalid_dpop_proof")
    finally:
        process.stop()


def test_a_replayed_proof_is_refused_by_another_instance_sharing_redis(world, tmp_path, client_key):
    if not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    _, admin, _ = world
    token = bound_token(admin, "two instances", client_key)
    public = "http://crm.127.0.0.1.example"  # both instances answer to one public URL, as behind a balancer
    shared = {"RESOURCE_DEMO_DPOP_REPLAY_REDIS_URL": REDIS_URL, "RESOURCE_DEMO_PUBLIC_URL": public}
    first = start_demo(world, tmp_path / "a", "introspection", **shared)
    second = start_demo(world, tmp_path / "b", "local", **shared)
    try:
        proof = proof_for(client_key, "GET", public + "/v2/contacts", token)
        assert call(first.url + "/v2/contacts", token, proof).status_code == 200
        assert_refused(call(second.url + "/v2/contacts", token, proof), "invalid_dpop_proof")
        assert_refused(call(first.url + "/v2/contacts", token, proof), "invalid_dpop_proof")
        fresh = proof_for(client_key, "GET", public + "/v2/contacts", token)
        assert call(second.url + "/v2/contacts", token, fresh).status_code == 200
    finally:
        first.stop()
        second.stop()


def test_an_unreachable_replay_cache_fails_closed_for_bound_tokens_only(world, tmp_path, client_key):
    _, admin, _ = world
    token = bound_token(admin, "redis down", client_key)
    process = start_demo(
        world, tmp_path / "demo", "introspection", RESOURCE_DEMO_DPOP_REPLAY_REDIS_URL="redis://127.0.0.1:1/0"
    )
    try:
        url = process.url + "/v2/contacts"
        refused = call(url, token, proof_for(client_key, "GET", url, token))
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert refused.json()["error"] == "temporarily_unavailable"
        unbound = admin.generate_token(admin.create_integration("bearer while redis is down", [READ]))
        assert call(url, unbound, scheme="Bearer").status_code == 200
    finally:
        process.stop()


def test_a_stolen_bound_token_without_the_key_is_refused_by_every_service(world, tmp_path, client_key):
    """The holder's calls work on both services; a thief with the token but not the key gets nothing anywhere,
    whatever it tries: bearer, DPoP without a proof, DPoP with a proof of its own key, or a proof it saw."""
    _, admin, _ = world
    token = bound_token(admin, "stolen", client_key)
    services = [start_demo(world, tmp_path / mode, mode) for mode in ("introspection", "local")]
    try:
        thief = ECKey.generate_key("P-256")
        for service in services:
            url = service.url + "/v2/contacts"
            seen = proof_for(client_key, "GET", url, token)
            assert call(url, token, seen).status_code == 200  # the holder
            attempts = {
                "bearer": call(url, token, scheme="Bearer"),
                "no proof": call(url, token),
                "own key": call(url, token, proof_for(thief, "GET", url, token)),
                "a proof it saw": call(url, token, seen),
                "a proof it saw, for writing": call(url, token, seen, method="POST"),
            }
            for attempt, response in attempts.items():
                assert response.status_code == 401, (service.url, attempt, response.text)
                assert response.headers["WWW-Authenticate"].startswith("DPoP "), attempt
    finally:
        for service in services:
            service.stop()


def test_a_service_with_nonces_asks_for_one_and_every_instance_accepts_it(world, tmp_path, client_key):
    """RFC 9449 section 9: use_dpop_nonce with a DPoP-Nonce header; the retry with that nonce is served, by this
    instance and by another sharing the nonce secret."""
    _, admin, _ = world
    token = bound_token(admin, "nonces", client_key)
    public = "http://crm.nonces.example"
    shared = {"RESOURCE_DEMO_DPOP_NONCE_SECRET": "s" * 40, "RESOURCE_DEMO_PUBLIC_URL": public}
    first = start_demo(world, tmp_path / "a", "introspection", **shared)
    second = start_demo(world, tmp_path / "b", "local", **shared)
    try:
        url = public + "/v2/contacts"
        asked = call(first.url + "/v2/contacts", token, proof_for(client_key, "GET", url, token))
        assert_refused(asked, "use_dpop_nonce")
        nonce = asked.headers["DPoP-Nonce"]
        served = call(first.url + "/v2/contacts", token, proof_for(client_key, "GET", url, token, nonce=nonce))
        assert served.status_code == 200, served.text
        elsewhere = call(second.url + "/v2/contacts", token, proof_for(client_key, "GET", url, token, nonce=nonce))
        assert elsewhere.status_code == 200, elsewhere.text
        forged = call(second.url + "/v2/contacts", token, proof_for(client_key, "GET", url, token, nonce="x" * 32))
        assert_refused(forged, "use_dpop_nonce")
    finally:
        first.stop()
        second.stop()
