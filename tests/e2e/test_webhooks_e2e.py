"""Webhooks end to end: ``authserver run``, a separate ``authserver webhooks worker`` process and a real receiver,
all on 127.0.0.1. Signatures are checked with libsodium (v1a) and the Standard Webhooks reference library (v1)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.factories import basic
from tests.support.servers import make_authserver
from tests.support.webhook_receiver import WebhookReceiver, verify_ed25519, verify_hmac

WEBHOOK_ENV = {
    "AUTHSERVER_WEBHOOK_ALLOW_HTTP": "on",
    "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    "AUTHSERVER_WEBHOOK_TIMEOUT": "2",  # a killed worker's lease runs out 2 + 5 s after it took the delivery
    "AUTHSERVER_WEBHOOK_RETRY_BASE": "0.25",  # backoff 0.125-0.25 s, 0.5-1 s, 2-4 s: the schedule, made short
    "AUTHSERVER_WEBHOOK_POLL_INTERVAL": "0.1",
}


class Worker:
    """``authserver webhooks worker`` as its own process."""

    def __init__(self, server) -> None:
        self.server = server
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.server.workdir / "worker.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "authserver", "webhooks", "worker"],
                env=self.server.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.server.workdir,
            )
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("webhooks"), **WEBHOOK_ENV)
    account, admin, service = server.cli_batch(
        ["account", "create", "--name", "Hooked", "--json"],
        ["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"],
        ["client", "create", "--name", "contacts service", "--kind", "resource-service", "--json"],
    )
    server.start()
    try:
        yield server, account["id"], basic(admin["client_id"], admin["client_secret"]), service
    finally:
        server.stop()


@pytest.fixture
def worker(env):
    running = Worker(env[0]).start()
    yield running
    running.stop()


def api(server, method, path, headers, **kwargs):
    return requests.request(method, f"{server.url}/api{path}", headers=headers, timeout=30, **kwargs)


def subscribe(server, account_id, headers, url, **body):
    response = api(server, "POST", f"/accounts/{account_id}/webhooks", headers, json={"url": url} | body)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(server, headers, subscription_id):
    response = api(server, "GET", f"/webhooks/{subscription_id}/deliveries", headers)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_each_event_arrives_once_signed(env, worker):
    server, account_id, admin, service = env
    with WebhookReceiver() as receiver, WebhookReceiver() as service_receiver:
        ed = subscribe(server, account_id, admin, receiver.url)
        hmac_sub = subscribe(
            server, account_id, admin, receiver.url + "/hmac", signing="hmac", events=["token.rotated"]
        )
        rs = server.cli(
            "webhooks", "subscribe", "--resource-service", service["client_id"], "--url", service_receiver.url, "--json"
        )
        assert rs["events"] == [
            "integration.deleted",
            "integration.scopes_changed",
            "token.expired",
            "token.leaked",
            "token.revoked",
            "token.rotated",
        ]

        integration = api(
            server,
            "POST",
            f"/accounts/{account_id}/integrations",
            admin,
            json={"name": "Zapier", "scopes": ["contacts.readonly"]},
        ).json()
        path = f"/integrations/{integration['id']}"
        first = api(server, "POST", f"{path}/tokens", admin, json={}).json()
        second = api(server, "POST", f"{path}/rotate", admin, json={"mode": "later", "grace": "2d"}).json()
        revoked = requests.post(f"{server.url}/oauth/revoke", data={"token": first["token"]}, timeout=10)
        assert revoked.status_code == 200
        api(server, "PATCH", path, admin, json={"scopes": ["contacts.readonly", "contacts.write"]})
        api(server, "POST", f"{path}/expire", admin, json={})
        assert api(server, "DELETE", path, admin).status_code == 204

        expected = [
            "integration.created",
            "token.generated",
            "token.rotated",
            "token.revoked",
            "integration.scopes_changed",
            "token.expired",
            "integration.deleted",
        ]
        received = receiver.wait_for(len(expected) + 1)
        service_received = service_receiver.wait_for(5)
        time.sleep(1.0)  # anything extra would arrive by now
        assert len(receiver.requests) == len(expected) + 1 and len(service_receiver.requests) == 5

        public_key = requests.get(f"{server.url}/api/webhooks/public-key", timeout=10).json()["public_key"]
        ed_received = [r for r in received if not r.path.endswith("/hmac")]
        assert sorted(verify_ed25519(public_key, r)["type"] for r in ed_received) == sorted(expected)
        assert len({r.webhook_id for r in ed_received}) == len(expected)
        (hmac_received,) = [r for r in received if r.path.endswith("/hmac")]
        assert verify_hmac(hmac_sub["secret"], hmac_received)["data"]["token_id"] == second["token_id"]
        assert sorted(verify_ed25519(public_key, r)["type"] for r in service_received) == sorted(
            ["token.rotated", "token.revoked", "integration.scopes_changed", "token.expired", "integration.deleted"]
        )
        for request in received + service_received:
            assert first["token"] not in request.body and second["token"] not in request.body
        assert {(d["status"], d["attempts"]) for d in deliveries(server, admin, ed["id"])} == {("succeeded", 1)}
        assert api(server, "DELETE", f"/webhooks/{ed['id']}", admin).status_code == 204
        server.cli("webhooks", "delete", rs["id"], "--json")
        api(server, "DELETE", f"/webhooks/{hmac_sub['id']}", admin)


def test_a_receiver_that_fails_three_times_then_succeeds_gets_the_event_exactly_once_more(env, worker):
    """...and a delivery can be sent again by hand from the CLI."""
    server, account_id, admin, _ = env
    with WebhookReceiver([500, 503, 500]) as receiver:
        hook = subscribe(server, account_id, admin, receiver.url, signing="hmac", events=["integration.created"])
        api(
            server,
            "POST",
            f"/accounts/{account_id}/integrations",
            admin,
            json={"name": "Flaky receiver", "scopes": ["contacts.readonly"]},
        )
        requests_seen = receiver.wait_for(4, timeout=20)
        time.sleep(1.0)
        assert len(receiver.requests) == 4
        assert len({r.webhook_id for r in requests_seen}) == 1
        assert all(verify_hmac(hook["secret"], r)["type"] == "integration.created" for r in requests_seen)
        (log,) = wait_until(lambda: [d for d in deliveries(server, admin, hook["id"]) if d["status"] == "succeeded"])
        assert log["attempts"] == 4 and log["last_error"] is None and log["last_status_code"] == 204

        # Redelivery by hand (the receiver lost it, say): the same event, same id and body, once more.
        assert server.cli("webhooks", "redeliver", log["id"], "--json")["status"] == "pending"
        replayed = receiver.wait_for(5)[4]
        assert (replayed.webhook_id, replayed.body) == (requests_seen[0].webhook_id, requests_seen[0].body)
        wait_until(
            lambda: [
                d for d in deliveries(server, admin, hook["id"]) if d["attempts"] == 5 and d["status"] == "succeeded"
            ]
        )
        api(server, "DELETE", f"/webhooks/{hook['id']}", admin)


def test_a_worker_killed_mid_delivery_redelivers_after_restart(env):
    server, account_id, admin, _ = env
    with WebhookReceiver(hold_first=True) as receiver:
        hook = subscribe(server, account_id, admin, receiver.url, events=["integration.created"])
        first_worker = Worker(server).start()
        try:
            api(
                server,
                "POST",
                f"/accounts/{account_id}/integrations",
                admin,
                json={"name": "Crash test", "scopes": ["contacts.readonly"]},
            )
            assert receiver.first_arrived.wait(15)
            first_worker.kill()  # mid-request: the outcome is never recorded
        finally:
            first_worker.stop()
        receiver.release.set()
        (in_flight,) = deliveries(server, admin, hook["id"])
        assert (in_flight["status"], in_flight["attempts"]) == ("pending", 1)  # taken, never recorded

        second_worker = Worker(server).start()
        try:
            redelivered = receiver.wait_for(2, timeout=20)  # once the dead worker's lease has run out
            assert redelivered[0].webhook_id == redelivered[1].webhook_id
            (log,) = wait_until(
                lambda: [d for d in deliveries(server, admin, hook["id"]) if d["status"] == "succeeded"]
            )
            assert log["attempts"] == 2
            time.sleep(0.5)
            assert len(receiver.requests) == 2
        finally:
            second_worker.stop()
        api(server, "DELETE", f"/webhooks/{hook['id']}", admin)


def test_subscriptions_to_metadata_or_private_addresses_are_refused(env):
    server, account_id, admin, _ = env
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hooks",
        "https://10.0.0.1/hooks",
        "http://[::ffff:169.254.169.254]/",
    ):
        response = api(server, "POST", f"/accounts/{account_id}/webhooks", admin, json={"url": url})
        assert response.status_code == 400, url
        assert response.json()["type"].endswith("/destination_refused")
    done = server.cli("webhooks", "subscribe", "--account", account_id, "--url", "http://169.254.169.254/", check=False)
    assert done.returncode == 1 and "may not be sent to 169.254.169.254" in done.stderr
