"""Limits hold across worker processes and instances without Redis (issue 13 §5).

Found: with ``authserver serve`` (2 workers) and no Redis, the sign-in limit of 5 failures per account let 8
through and the per-address limit 37 of 20, because each worker counted in its own memory and checked before it
counted. Here a real pre-forked server (granian, two workers, no Redis) takes many concurrent attempts on fresh
connections, spread over both workers, and exactly the limit reaches a password check; then two instances sharing
one database do the same.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.factories import basic
from tests.support.servers import make_authserver, wait_for_http

from .conftest import PASSWORD, Browser, run_cli, start_together

ACCOUNT_FAILURES, ADDRESS_FAILURES, WINDOW = 5, 20, 15 * 60
LIMITS = {
    "AUTHSERVER_SIGNIN_ACCOUNT_LIMIT": f"{ACCOUNT_FAILURES}/15m",
    "AUTHSERVER_SIGNIN_ADDRESS_LIMIT": f"{ADDRESS_FAILURES}/15m",
    "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "10/1h",
    "AUTHSERVER_RATE_LIMIT_REVOCATION": "4/1h",
    "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION": "3/1h",
}
EMAIL = "victim@limits.example"


def seed(server) -> dict:
    account, admin, service, _, integration, token = run_cli(
        server,
        (["account", "create", "--name", "Limited", "--json"], None),
        (["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
        (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
        (
            [
                "user",
                "create",
                "--account",
                "{0[id]}",
                "--email",
                EMAIL,
                "--role",
                "admin",
                "--password-stdin",
                "--json",
            ],
            PASSWORD + "\n",
        ),
        (
            ["integration", "create", "--account", "{0[id]}", "--name", "i", "--scope", "contacts.readonly", "--json"],
            None,
        ),
        (["token", "generate", "{4[id]}", "--json"], None),
    )
    return {
        "account": account["id"],
        "admin": (admin["client_id"], admin["client_secret"]),
        "service": (service["client_id"], service["client_secret"]),
        "token": token["token"],
    }


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """``authserver serve --workers 2`` on SQLite, no Redis."""
    server = make_authserver(tmp_path_factory.mktemp("two-workers"), **LIMITS)
    world = seed(server)
    with open(server.log_path, "ab") as log:
        server.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "authserver",
                "serve",
                "--port",
                str(server.port),
                "--workers",
                "2",
                "--threads",
                "8",
            ],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.workdir,
        )
    try:
        wait_for_http(f"{server.url}/.well-known/oauth-authorization-server", server.proc, server.log_path, timeout=90)
        yield server, world
    finally:
        server.stop()


@pytest.fixture
def fresh_window(workers):
    """Each test starts a window later than the last, so no earlier test's attempts count."""
    server, _ = workers
    fresh_window.offset = getattr(fresh_window, "offset", 0) + 2 * WINDOW
    server.set_clock_offset(fresh_window.offset)
    return fresh_window.offset


def attempt_together(servers, emails_and_passwords) -> list[int]:
    """Every sign-in at once, each from its own browser on its own connections (so both workers take some)."""
    browsers = [Browser(servers[index % len(servers)]) for index in range(len(emails_and_passwords))]
    tokens = [browser.signin_form_token() for browser in browsers]
    start = threading.Barrier(len(browsers))

    def attempt(index: int) -> int:
        email, password = emails_and_passwords[index]
        start.wait(timeout=60)
        return (
            browsers[index]
            .post(
                "/signin",
                headers={"Connection": "close"},
                data={"email": email, "password": password, "csrf_token": tokens[index]},
            )
            .status_code
        )

    with ThreadPoolExecutor(len(browsers)) as pool:
        return list(pool.map(attempt, range(len(browsers))))


def test_concurrent_wrong_passwords_for_one_account_reach_exactly_the_account_limit_across_workers(
    workers, fresh_window
):
    server, _ = workers
    statuses = attempt_together([server], [(EMAIL, f"guess {n}") for n in range(ACCOUNT_FAILURES + 7)])
    assert Counter(statuses) == {400: ACCOUNT_FAILURES, 429: 7}
    # Fail closed: the right password waits out the window too, on whichever worker it lands.
    for _ in range(2):
        refused = Browser(server).sign_in(EMAIL)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW


def test_concurrent_guesses_from_one_address_reach_exactly_the_address_limit_across_workers(workers, fresh_window):
    server, _ = workers
    guesses = [(f"guess{n}@nowhere.example", "guess") for n in range(ADDRESS_FAILURES + 10)]
    statuses = attempt_together([server], guesses)
    assert Counter(statuses) == {400: ADDRESS_FAILURES, 429: 10}
    refused = Browser(server).sign_in(EMAIL)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= WINDOW


def test_a_good_password_under_the_limit_signs_in_and_gives_the_address_its_attempt_back(workers, fresh_window):
    server, _ = workers
    statuses = attempt_together(
        [server],
        [(EMAIL, "wrong")] * (ACCOUNT_FAILURES - 1)
        + [(f"other{n}@nowhere.example", "guess") for n in range(ADDRESS_FAILURES - ACCOUNT_FAILURES)],
    )
    assert Counter(statuses) == {400: ADDRESS_FAILURES - 1}
    assert Browser(server).sign_in(EMAIL).status_code == 302  # the 20th attempt, and the account's count restarts
    assert Browser(server).sign_in(EMAIL).status_code == 302  # a success spends none of the address's 20
    assert Counter(attempt_together([server], [("last@nowhere.example", "guess")] * 2)) == {400: 1, 429: 1}


def test_wrong_current_passwords_on_the_password_page_count_against_the_account(workers, fresh_window):
    server, _ = workers
    browser = Browser(server)
    assert browser.sign_in(EMAIL).status_code == 302
    statuses = []
    for n in range(ACCOUNT_FAILURES + 1):
        token = browser.page_csrf_token("/settings/password")
        statuses.append(
            browser.post(
                "/settings/password",
                headers={"Origin": server.url},
                data={
                    "csrf_token": token,
                    "current_password": f"guess {n}",
                    "new_password": "x" * 20,
                    "confirm_password": "x" * 20,
                },
            ).status_code
        )
    assert statuses == [400] * ACCOUNT_FAILURES + [429]
    assert Browser(server).sign_in(EMAIL).status_code == 429


def test_the_introspection_budget_of_an_instance_is_the_configured_figure_whatever_worker_answers(
    workers, fresh_window
):
    server, world = workers

    def introspect(_):
        return requests.post(
            f"{server.url}/oauth/introspect",
            data={"token": world["token"]},
            auth=world["service"],
            headers={"Connection": "close"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(introspect, range(30)))
    # 10/1h split between 2 workers: 5 each, so 10 when both take some (and never more).
    assert statuses[200] <= 10 and statuses[200] + statuses[429] == 30
    assert statuses[200] == 10, "both workers should have taken connections"


def test_revocation_and_token_generation_budgets_are_exact_across_workers(workers, fresh_window):
    server, world = workers

    def revoke(_):
        return requests.post(
            f"{server.url}/oauth/revoke",
            data={"token": "not-a-token"},
            auth=world["admin"],
            headers={"Connection": "close"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        assert Counter(pool.map(revoke, range(12))) == {200: 4, 429: 8}

    def generate(_):
        headers = basic(*world["admin"]) | {"Connection": "close"}
        integration = requests.post(
            f"{server.url}/api/accounts/{world['account']}/integrations",
            headers=headers,
            json={"name": "x", "scopes": ["contacts.readonly"]},
            timeout=30,
        ).json()
        return requests.post(
            f"{server.url}/api/integrations/{integration['id']}/tokens", headers=headers, json={}, timeout=30
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        assert Counter(pool.map(generate, range(6))) == {201: 3, 429: 3}


def test_two_instances_sharing_a_database_share_the_sign_in_limits(tmp_path):
    first = make_authserver(tmp_path / "a", **LIMITS)
    seed(first)
    second = make_authserver(
        tmp_path / "b",
        DATABASE_URL=first.env["DATABASE_URL"],
        AUTHSERVER_KEYS_DIR=first.env["AUTHSERVER_KEYS_DIR"],
        AUTHSERVER_ISSUER=first.env["AUTHSERVER_ISSUER"],
        **LIMITS,
    )
    servers = start_together(first, second)
    try:
        statuses = attempt_together(servers, [(EMAIL, f"guess {n}") for n in range(ACCOUNT_FAILURES + 5)])
        assert Counter(statuses) == {400: ACCOUNT_FAILURES, 429: 5}
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
