"""Rate limits over HTTP: per client on introspection and revocation, per account on token generation, per
address on sign-in; 429 with Retry-After; one budget shared by two instances through Redis; and limits that keep
working (per instance, in memory) when Redis is away.

Two servers share one database, one issuer and one Redis prefix, like two instances behind a load balancer.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from authserver.limits.rates import MemoryRateStore, Rate
from authserver.limits.redis_store import RedisAttemptStore, RedisRateStore
from authserver.redis_client import connect_redis
from authserver.limits.signin import Limit, MemoryAttemptStore
from tests.factories import basic
from tests.support.servers import make_authserver

from .conftest import PASSWORD, Browser, remember_response, run_cli, start_together

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMITS = {
    "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "6/1m",
    "AUTHSERVER_RATE_LIMIT_REVOCATION": "3/1m",
    "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION": "3/1h",
    "AUTHSERVER_SIGNIN_ADDRESS_LIMIT": "3/15m",
}


def redis_available() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"authserver-sec-{secrets.token_hex(4)}"
    first = make_authserver(
        tmp_path_factory.mktemp("limits-a"), REDIS_URL=REDIS_URL, AUTHSERVER_REDIS_PREFIX=prefix, **LIMITS
    )
    shared = {
        "DATABASE_URL": first.env["DATABASE_URL"],
        "AUTHSERVER_KEYS_DIR": first.env["AUTHSERVER_KEYS_DIR"],
        "AUTHSERVER_ISSUER": first.env["AUTHSERVER_ISSUER"],
    }
    with ThreadPoolExecutor() as pool:  # the second instance's start-up runs beside the seeding
        second = pool.submit(
            make_authserver,
            tmp_path_factory.mktemp("limits-b"),
            REDIS_URL=REDIS_URL,
            AUTHSERVER_REDIS_PREFIX=prefix,
            **LIMITS,
            **shared,
        )
        results = pool.submit(
            run_cli,
            first,
            (["account", "create", "--name", "Limited", "--json"], None),
            (["account", "create", "--name", "Bystander", "--json"], None),
            (["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
            (
                ["client", "create", "--name", "bystander admin", "--kind", "admin", "--account", "{1[id]}", "--json"],
                None,
            ),
            (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
            (["client", "create", "--name", "svc 2", "--kind", "resource-service", "--json"], None),
            (
                [
                    "integration",
                    "create",
                    "--account",
                    "{0[id]}",
                    "--name",
                    "i",
                    "--scope",
                    "contacts.readonly",
                    "--json",
                ],
                None,
            ),
            (["token", "generate", "{6[id]}", "--json"], None),
        ).result()
        second = second.result()
    account, bystander, admin, bystander_admin, service, service_2, _, token = results
    servers = start_together(first, second)
    try:
        yield {
            "servers": servers,
            "account": account["id"],
            "bystander": bystander["id"],
            "admin": (admin["client_id"], admin["client_secret"]),
            "bystander_admin": (bystander_admin["client_id"], bystander_admin["client_secret"]),
            "service": (service["client_id"], service["client_secret"]),
            "service_2": (service_2["client_id"], service_2["client_secret"]),
            "token": token["token"],
        }
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


def introspect(server, token: str, auth) -> requests.Response:
    return requests.post(f"{server.url}/oauth/introspect", data={"token": token}, auth=auth, timeout=30)


def assert_rate_limited(response: requests.Response, longest: int) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= longest
    assert response.json()["error"] == "temporarily_unavailable"


def test_introspection_past_the_clients_limit_is_429_with_retry_after_across_both_instances(cluster):
    first, second = cluster["servers"]
    answers = [introspect(server, cluster["token"], cluster["service"]) for server in (first, second) * 3]
    assert [r.status_code for r in answers] == [200] * 6 and all(r.json()["active"] for r in answers)
    assert_rate_limited(introspect(first, cluster["token"], cluster["service"]), 10)
    assert_rate_limited(introspect(second, cluster["token"], cluster["service"]), 10)
    # Another client's budget is its own.
    assert introspect(second, cluster["token"], cluster["service_2"]).json()["active"] is True


def test_wrong_secrets_cannot_spend_another_clients_budget(cluster):
    first, _ = cluster["servers"]
    victim_id = cluster["service_2"][0]
    for _ in range(10):
        assert introspect(first, cluster["token"], (victim_id, "wrong")).status_code == 401
    assert introspect(first, cluster["token"], cluster["service_2"]).status_code == 200


def test_the_limit_lifts_when_its_window_passes(cluster):
    for server in cluster["servers"]:
        server.set_clock_offset(61)
    try:
        assert introspect(cluster["servers"][0], cluster["token"], cluster["service"]).json()["active"] is True
    finally:
        for server in cluster["servers"]:
            server.set_clock_offset(0)


def test_revocation_past_the_clients_limit_is_429(cluster):
    first, second = cluster["servers"]
    for server in (first, second, first):
        response = requests.post(
            f"{server.url}/oauth/revoke", data={"token": "not-a-token"}, auth=cluster["admin"], timeout=30
        )
        assert response.status_code == 200
    response = requests.post(
        f"{second.url}/oauth/revoke", data={"token": "not-a-token"}, auth=cluster["admin"], timeout=30
    )
    assert_rate_limited(response, 20)


def test_token_generation_past_the_accounts_limit_is_a_429_problem_and_mints_nothing(cluster):
    first, second = cluster["servers"]

    def generate(server, auth, account):
        integration = requests.post(
            f"{server.url}/api/accounts/{account}/integrations",
            headers=basic(*auth),
            json={"name": "x", "scopes": ["contacts.readonly"]},
            timeout=30,
        ).json()
        response = remember_response(
            requests.post(
                f"{server.url}/api/integrations/{integration['id']}/tokens", headers=basic(*auth), json={}, timeout=30
            )
        )
        return integration["id"], response

    assert generate(first, cluster["admin"], cluster["account"])[1].status_code == 201
    assert generate(second, cluster["admin"], cluster["account"])[1].status_code == 201
    integration_id, refused = generate(first, cluster["admin"], cluster["account"])
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 1800
    tokens = requests.get(
        f"{second.url}/api/integrations/{integration_id}/tokens", headers=basic(*cluster["admin"]), timeout=30
    ).json()["tokens"]
    assert tokens == []
    assert generate(second, cluster["bystander_admin"], cluster["bystander"])[1].status_code == 201


def test_sign_in_failures_from_one_address_past_its_limit_are_429_across_instances(cluster):
    first, second = cluster["servers"]
    for index, server in enumerate((first, second, first)):
        browser = Browser(server)
        token = browser.signin_form_token()
        response = browser.post(
            "/signin", data={"email": f"guess{index}@nowhere.example", "password": "guess", "csrf_token": token}
        )
        assert response.status_code == 400
    browser = Browser(second)
    token = browser.signin_form_token()
    response = browser.post(
        "/signin", data={"email": "someone-else@nowhere.example", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60


def test_limits_hold_per_instance_when_redis_is_unreachable(caplog):
    """The Redis stores, pointed at a closed port, carry on in their fallback store (memory here; the database in
    an instance: limits/build.py), never an error."""
    closed_port = connect_redis("redis://127.0.0.1:1/0")
    store = RedisRateStore(closed_port, "unreachable", fallback=MemoryRateStore())
    attempts = RedisAttemptStore(closed_port, "unreachable", fallback=MemoryAttemptStore())
    now, rate = time.time(), Rate(2, 60)
    assert [store.acquire("client", rate, now) == 0 for _ in range(3)] == [True, True, False]
    limit = Limit("account", 2, 60)
    assert [attempts.take("signin:account:x", now + n, limit) for n in range(3)] == [0, 0, 58]
    assert "redis unavailable for rate limits" in caplog.text and "redis unavailable for sign-in limits" in caplog.text


def test_redis_lets_exactly_the_limit_of_racing_password_checks_through():
    """The Redis path counts before the check too, in one script: racing attempts cannot all read 4 of 5."""
    if not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    store = RedisAttemptStore(
        connect_redis(REDIS_URL), f"authserver-race-{secrets.token_hex(4)}", fallback=MemoryAttemptStore()
    )
    limit, now = Limit("account", 5, 900), time.time()
    try:
        with ThreadPoolExecutor(8) as pool:
            waits = list(pool.map(lambda _: store.take("signin:account:race", now, limit), range(20)))
        assert sorted(waits) == [0.0] * 5 + [pytest.approx(900.0)] * 15
        store.give_back("signin:account:race", now)
        assert store.wait("signin:account:race", now, limit) == 0
    finally:
        store.clear("signin:account:race")
