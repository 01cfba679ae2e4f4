"""The package backs off from a 429 (issue 16 §4), against a real authorization server whose resource-service client
has a tiny limit of its own (``authserver client set-limit``): the server's ``Retry-After`` is waited out without
another introspection call; meanwhile a still-valid cached verdict is served, and any other token fails closed with
503 and the time left as ``Retry-After``, never 401 (the token may be fine)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from authserver_resource import Guard, Settings
from authserver_resource.authserver_client import MAX_BACKOFF, AuthServerClient, RateLimitedError, retry_after_seconds
from authserver_resource.bearer import TemporarilyUnavailableError
from authserver_resource.clock import SystemClock
from authserver_resource.feed import CacheInvalidation, FeedFollower
from authserver_resource.introspection_cache import IntrospectionCache
from tests.support.resource_demo import AdminApi, cli_batch
from tests.support.servers import make_authserver, wait_for_http

from .conftest import READ, RESOURCE

LIMIT = "2/12s"  # two at once, then one every 6 s: a refusal says "Retry-After: 6" at most


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("backoff"))
    with open(server.log_path, "ab") as log:  # server.start(), with a start-up allowance for a busy machine
        server.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "authserver", "run", "--port", str(server.port)],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.workdir,
        )
    try:
        wait_for_http(f"{server.url}/.well-known/oauth-authorization-server", server.proc, server.log_path, timeout=90)
        account, service, admin = cli_batch(
            server,
            ("account", "create", "--name", "Backoff", "--json"),
            ("client", "create", "--name", "slow-service", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
        )
        cli_batch(server, ("client", "set-limit", service["client_id"], "--introspection", LIMIT, "--json"))
        api = AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"])
        tokens = [api.generate_token(api.create_integration(f"i{n}", [READ])) for n in range(4)]
        yield server, service, tokens
    finally:
        server.stop()


class CountedCalls:
    """Counts the introspection calls that leave the process (the server itself is real and unchanged)."""

    def __init__(self, guard: Guard) -> None:
        self.calls = 0
        introspect = guard.link.introspect

        def counted(token: str) -> dict:
            self.calls += 1
            return introspect(token)

        guard.link.introspect = counted  # type: ignore[method-assign]


def test_a_429_is_waited_out_serving_cached_verdicts_and_failing_others_closed_with_503(limited):
    server, service, tokens = limited
    guard = Guard(
        Settings(
            issuer=server.url,
            client_id=service["client_id"],
            client_secret=service["client_secret"],
            mode="introspection",
            resource=RESOURCE,
        )
    )
    counted = CountedCalls(guard)
    # Not started: the feed and usage reports authenticate as this client too and would spend its tiny budget.
    first, second, third, fourth = tokens
    assert guard.check(f"Bearer {first}", READ).jti  # the limit's two requests
    assert guard.check(f"Bearer {second}", READ).jti
    with pytest.raises(TemporarilyUnavailableError) as refused:
        guard.check(f"Bearer {third}", READ)  # the server answers 429
    assert counted.calls == 3
    status, headers, _ = refused.value.render("v2")
    assert status == 503 and 1 <= int(dict(headers)["Retry-After"]) <= 6

    # Backing off: no call leaves the process. A cached verdict is still served; an unknown token is a 503.
    with pytest.raises(TemporarilyUnavailableError) as waiting:
        guard.check(f"Bearer {fourth}", READ)
    assert 1 <= waiting.value.retry_after <= 6
    assert guard.check(f"Bearer {first}", READ).jti
    assert counted.calls == 3

    # Once the Retry-After has passed, the service asks again, and the server has a request for it.
    time.sleep(max(0.0, guard.validator.backoff_until - time.monotonic()) + 0.2)
    assert guard.check(f"Bearer {third}", READ).jti
    assert counted.calls == 4


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0", 1.0),
        (None, 1.0),
        ("soon", 1.0),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 1.0),
        ("86400", MAX_BACKOFF),
    ],
)
def test_retry_after_is_whole_seconds_at_least_one_and_capped(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_the_event_feed_waits_out_a_429_too(limited):
    """The feed authenticates as the same client and counts against its limit: refused, it sleeps the server's
    Retry-After instead of its own short back-off (0.2 s, doubling)."""
    server, service, _ = limited
    link = AuthServerClient(server.url, service["client_id"], service["client_secret"], timeout=3)
    for _ in range(5):  # spend what is left of the budget
        try:
            link.introspect("not-a-token")
        except RateLimitedError:
            break
    snapshots = []
    snapshot = link.snapshot

    def counted() -> dict:
        snapshots.append(time.monotonic())
        return snapshot()

    link.snapshot = counted  # type: ignore[method-assign]
    follower = FeedFollower(link, CacheInvalidation(IntrospectionCache(30, 5)), SystemClock(), wait=1)
    follower.start()
    time.sleep(2.5)
    follower.stop()
    assert len(snapshots) == 1, f"asked {len(snapshots)} times within 2.5 s of a 429"
