"""The expiry scan in each serving process (authserver/expiry_job.py): idle tokens expire and grace ends are
recorded without cron, exactly once however many processes scan at the same moment."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from authserver import create_app
from authserver.database import prepare
from authserver.expiry_job import ExpiryJob
from authserver.extensions import db
from authserver.integrations import rotate_with_grace
from authserver.models import AuditEvent
from authserver.principals import OPERATOR
from authserver.services import services
from authserver.unit_of_work import unit_of_work
from tests.factories import issue_token, make_account, make_integration
from tests.support.config import make_app_config
from tests.support.servers import free_port, make_authserver, wait_for_http

ALLOW = {"AUTHSERVER_WEBHOOK_ALLOW_HTTP": "on", "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}


def _audit_count(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)) or 0


@pytest.fixture
def app(tmp_path, database_url, clock):
    config = make_app_config(tmp_path, database_url, AUTHSERVER_EXPIRY_SCAN_INTERVAL="off")
    app = create_app(config, clock=clock)
    prepare(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_passes_running_at_the_same_moment_expire_and_record_each_token_once(app, clock):
    account = make_account(clock, name="Scanned")
    idle = make_integration(clock, account.id, name="Idle", inactivity_window=3600)
    issue_token(services(app), clock, idle.id)
    graced = make_integration(clock, account.id, name="Rotated")
    issue_token(services(app), clock, graced.id)
    with unit_of_work():
        now = clock.now()
        rotate_with_grace(
            OPERATOR, graced.id, policy=services(app).policy, now=now, grace_until=now + timedelta(hours=1)
        )
    clock.advance(3 * 3600)
    db.session.remove()

    jobs = [ExpiryJob(app) for _ in range(4)]
    results: list = []
    for _ in range(3):  # several rounds of four passes started together
        start = threading.Barrier(len(jobs))

        def run(job: ExpiryJob) -> None:
            start.wait()
            results.append(job.run_once())

        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with app.app_context():
        assert _audit_count("token.expired_inactive") == 1
        assert _audit_count("token.grace_ended") == 1
    done = [r for r in results if r is not None]
    assert sum(len(expired) for expired, _ in done) == 1
    assert sum(len(graces) for _, graces in done) == 1


def test_off_runs_nothing(app):
    job = ExpiryJob(app).start()
    assert job._thread is None
    job.stop()


def test_serve_expires_idle_tokens_and_records_grace_ends_without_cron(tmp_path):
    """A real ``authserver serve`` (two workers, a 1 s scan): the idle token's audit row and token.expired outbox
    row, and the grace end's audit row, each appear exactly once."""
    port = free_port()
    server = make_authserver(
        tmp_path,
        AUTHSERVER_EXPIRY_SCAN_INTERVAL="1s",
        AUTHSERVER_ISSUER=f"http://127.0.0.1:{port}",
        AUTHSERVER_WEBHOOK_WORKER="off",
        **ALLOW,
    )
    account = server.cli("account", "create", "--name", "Idle Co", "--json")["id"]
    server.cli("webhooks", "subscribe", "--url", "http://127.0.0.1:9/hook", "--account", account, "--json")
    create = ["integration", "create", "--account", account, "--scope", "contacts.readonly", "--json"]
    idle = server.cli(*create, "--name", "Idle", "--inactivity-window", "1h")["id"]
    idle_token = server.cli("token", "generate", idle, "--json")
    rotated = server.cli(*create, "--name", "Rotated", "--inactivity-window", "never")["id"]
    server.cli("token", "generate", rotated, "--json")
    server.cli("token", "rotate", rotated, "--grace", "1h", "--json")
    server.set_clock_offset(3 * 3600)  # past the idle window and the grace period

    database = tmp_path / "authserver.db"
    log_path = tmp_path / "serve.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "authserver", "serve", "--port", str(port), "--workers", "2"],
            env=server.env, stdout=log, stderr=subprocess.STDOUT, cwd=server.workdir,
        )  # fmt: skip

    def counts() -> tuple[int, int, list]:
        with sqlite3.connect(database) as connection:
            expired = connection.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'token.expired_inactive'"
            ).fetchone()[0]
            graces = connection.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'token.grace_ended'"
            ).fetchone()[0]
            outbox = connection.execute("SELECT body FROM webhook_events WHERE type = 'token.expired'").fetchall()
        return expired, graces, outbox

    try:
        wait_for_http(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", proc, log_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and counts()[:2] != (1, 1):
            time.sleep(0.3)
        time.sleep(4)  # both workers scan several more times: nothing is recorded twice
        expired, graces, outbox = counts()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (expired, graces) == (1, 1), log_path.read_text()[-3000:]
    bodies = [json.loads(body) for (body,) in outbox]
    assert [b["data"]["reason"] for b in bodies] == ["inactive"]
    assert bodies[0]["data"]["token_id"] == idle_token["token_id"]
