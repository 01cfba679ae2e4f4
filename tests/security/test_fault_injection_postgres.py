"""Faults of a PostgreSQL-backed server, injected while it runs: the database host goes away (a proxy in front of
it cuts every connection), a table is locked by someone else, the database turns read-only.

Introspection fails closed: a 503 ``temporarily_unavailable``, never ``active: true``. Changes are refused with a
503 problem that says what is wrong. When the fault ends, the server recovers by itself, with no restart.
"""

from __future__ import annotations

import contextlib
import os
import time

import psycopg
import pytest
import requests

from tests.support.databases import POSTGRES_ADMIN_URL, ThrowawayPostgres, postgres_available
from tests.support.servers import make_authserver

from .conftest import Admin, remember_response, run_cli, start_together
from .faults import TcpProxy

LOCK_TIMEOUT = 1


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432, but CI must run the fault-injection tests")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    database = ThrowawayPostgres()
    proxy = TcpProxy(("127.0.0.1", 5432))
    server = make_authserver(
        tmp_path_factory.mktemp("faults-pg"),
        AUTHSERVER_DB_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{proxy.port}/{database.name}",
    )
    account, admin, service = run_cli(
        server,
        (["account", "create", "--name", "Faulty", "--json"], None),
        (["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
        (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
    )
    start_together(server)
    try:
        yield {
            "server": server,
            "proxy": proxy,
            "database": database,
            "admin": Admin(server, admin["client_id"], admin["client_secret"], account["id"]),
            "service": (service["client_id"], service["client_secret"]),
        }
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        proxy.close()
        database.drop()


def introspect(pg, token: str) -> requests.Response:
    return remember_response(
        requests.post(f"{pg['server'].url}/oauth/introspect", data={"token": token}, auth=pg["service"], timeout=30)
    )


def assert_fails_closed(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert "active" not in response.json()
    assert int(response.headers["Retry-After"]) > 0


def assert_database_problem(response: requests.Response, words: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/database_unavailable") and words in body["detail"]
    assert "Traceback" not in response.text and "SELECT" not in response.text and "INSERT" not in response.text


def eventually(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


@contextlib.contextmanager
def admin_connection(pg):
    """A connection straight to PostgreSQL (not through the proxy), as the operator's psql would be."""
    url = plain_url(POSTGRES_ADMIN_URL).rsplit("/", 1)[0] + f"/{pg['database'].name}"
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def disconnect_server(connection, database: str) -> None:
    connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    )


def test_database_unreachable_introspection_fails_closed_and_recovers_by_itself(pg):
    token = pg["admin"].integration_with_token()["token"]
    assert introspect(pg, token).json()["active"] is True
    pg["proxy"].cut()
    try:
        for _ in range(3):
            assert_fails_closed(introspect(pg, token))
        assert_database_problem(pg["admin"].request("GET", "/accounts"), "unavailable")
        assert requests.get(f"{pg['server'].url}/readyz", timeout=30).status_code == 503
    finally:
        pg["proxy"].restore()
    assert eventually(lambda: introspect(pg, token).status_code == 200)
    assert introspect(pg, token).json()["active"] is True


def test_locked_token_table_introspection_fails_closed_within_the_lock_timeout(pg):
    token = pg["admin"].integration_with_token()["token"]
    with admin_connection(pg) as connection, connection.transaction():
        connection.execute("LOCK TABLE access_tokens IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = introspect(pg, token)
        assert time.monotonic() - started < LOCK_TIMEOUT + 10
        assert_fails_closed(response)
    assert introspect(pg, token).json()["active"] is True


def test_read_only_database_refuses_changes_clearly_and_keeps_answering(pg):
    admin, name = pg["admin"], pg["database"].name
    token = admin.integration_with_token()["token"]
    with admin_connection(pg) as connection:
        connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        disconnect_server(connection, name)
        try:
            assert eventually(lambda: introspect(pg, token).status_code == 200)
            assert introspect(pg, token).json()["active"] is True
            refused = admin.request(
                "POST",
                f"/accounts/{admin.account_id}/integrations",
                json={"name": "x", "scopes": ["contacts.readonly"]},
            )
            assert_database_problem(refused, "read-only")
            revoked = requests.post(
                f"{pg['server'].url}/oauth/revoke", data={"token": token}, auth=admin.credentials, timeout=30
            )
            assert revoked.status_code == 503  # never a 200 for a revocation that was not written
            assert introspect(pg, token).json()["active"] is True
        finally:
            connection.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            disconnect_server(connection, name)
    assert eventually(lambda: admin.request("GET", "/accounts").status_code == 200)
    revoked = requests.post(
        f"{pg['server'].url}/oauth/revoke", data={"token": token}, auth=admin.credentials, timeout=30
    )
    assert revoked.status_code == 200
    assert introspect(pg, token).json() == {"active": False}
