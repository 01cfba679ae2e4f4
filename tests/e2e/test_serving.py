"""``authserver serve``: pre-forked workers each count token use, and SIGTERM drains and flushes every worker."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time

import requests

from tests.support.servers import make_authserver, wait_for_http


def test_serve_with_two_workers_flushes_every_workers_usage_on_sigterm(tmp_path):
    # Only the shutdown flush can write: the periodic one would not run for an hour.
    server = make_authserver(tmp_path, AUTHSERVER_ACTIVITY_FLUSH_INTERVAL="3600")
    account, rs, integration, issued = server.cli_batch(
        ["account", "create", "--name", "Acme", "--json"],
        ["client", "create", "--name", "contacts-api", "--kind", "resource-service", "--json"],
        ["integration", "create", "--account", "{0[id]}", "--name", "Zapier", "--scope", "contacts.readonly", "--json"],
        ["token", "generate", "{2[id]}", "--json"],
    )
    log = open(server.log_path, "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "authserver", "serve", "--port", str(server.port), "--workers", "2"],
        env=server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=server.workdir,
    )
    try:
        wait_for_http(f"{server.url}/.well-known/oauth-authorization-server", proc, server.log_path)
        auth = (rs["client_id"], rs["client_secret"])
        uses = 12
        for _ in range(uses):  # new connections each time, so both workers see some of them
            answer = requests.post(
                f"{server.url}/oauth/introspect",
                data={"token": issued["token"]},
                auth=auth,
                headers={"Connection": "close"},
                timeout=10,
            )
            assert answer.status_code == 200 and answer.json()["active"] is True

        in_flight = {}

        def long_poll():
            response = requests.get(
                f"{server.url}/oauth/events", params={"wait": "2", "after": "999999999"}, auth=auth, timeout=20
            )
            in_flight["status"] = response.status_code

        poller = threading.Thread(target=long_poll)
        poller.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        poller.join(timeout=20)
        assert proc.wait(timeout=40) == 0
        assert in_flight == {"status": 200}  # the request in flight at SIGTERM was answered
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    with sqlite3.connect(tmp_path / "authserver.db") as database:
        counted = database.execute(
            "SELECT SUM(count) FROM token_usage_daily WHERE jti = ?", (issued["token_id"],)
        ).fetchone()[0]
        last_used_by = database.execute(
            "SELECT last_used_by FROM access_tokens WHERE jti = ?", (issued["token_id"],)
        ).fetchone()[0]
    assert counted == uses
    assert last_used_by == rs["client_id"]
