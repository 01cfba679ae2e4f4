"""Expiry warnings by email, end to end: a real ``authserver serve`` (two workers) mailing a real SMTP receiver
(aiosmtpd) on 127.0.0.1. A token near its inactivity expiry and one in a grace period: exactly one message each,
to the account's admins only; a restart sends nothing again. Without AUTHSERVER_SMTP_URL: one start-up line, no
mail; with it but no sender: a one-line configuration error."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.e2e.ui.conftest import _cli_seed
from tests.support.servers import AuthServerProcess, free_port, make_authserver, wait_for_http

PASSWORD = "correct horse battery"  # noqa: S105 (a test user's)
SENDER = "authserver@agency.test"


@dataclass
class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    messages: list[tuple[list[str], email.message.EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((sorted(envelope.rcpt_tos), message))
        return "250 OK"

    def received(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        with self.lock:
            return list(self.messages)


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def serve(server: AuthServerProcess, workers: int = 2) -> subprocess.Popen:
    with open(server.log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "authserver", "serve", "--port", str(server.port), "--workers", str(workers)],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.workdir,
        )
    wait_for_http(f"{server.url}/.well-known/oauth-authorization-server", proc, server.log_path, timeout=60)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def seed(server: AuthServerProcess) -> dict:
    user = ["user", "create", "--password-stdin", "--json", "--account"]
    results = _cli_seed(
        server,
        ["account", "create", "--name", "Northwind Agency", "--json"],
        ["account", "create", "--name", "Unrelated Co", "--json"],
        ([*user, "{0[id]}", "--email", "first-admin@agency.test", "--role", "admin"], PASSWORD + "\n"),
        ([*user, "{0[id]}", "--email", "second-admin@agency.test", "--role", "admin"], PASSWORD + "\n"),
        ([*user, "{0[id]}", "--email", "member@agency.test", "--role", "member"], PASSWORD + "\n"),
        ([*user, "{1[id]}", "--email", "admin@unrelated.test", "--role", "admin"], PASSWORD + "\n"),
        # 6: idle for a day expires it: its deadline is inside the 24-hour notice window from the start
        [
            "integration",
            "create",
            "--account",
            "{0[id]}",
            "--name",
            "Nightly export",
            "--scope",
            "contacts.readonly",
            "--inactivity-window",
            "1d",
            "--json",
        ],
        ["token", "generate", "{6[id]}", "--json"],
        # 8: rotated with a 2-day grace: the old token's end is inside the 7-day notice window
        [
            "integration",
            "create",
            "--account",
            "{0[id]}",
            "--name",
            "Helpdesk",
            "--scope",
            "conversations.readonly",
            "--inactivity-window",
            "never",
            "--json",
        ],
        ["token", "generate", "{8[id]}", "--json"],
        ["token", "rotate", "{8[id]}", "--grace", "2d", "--json"],
        # 11: nothing due: no inactivity window, 90 days to go
        [
            "integration",
            "create",
            "--account",
            "{0[id]}",
            "--name",
            "Quiet one",
            "--scope",
            "contacts.readonly",
            "--inactivity-window",
            "never",
            "--json",
        ],
        ["token", "generate", "{11[id]}", "--json"],
        # 13: the other account's own idle token
        [
            "integration",
            "create",
            "--account",
            "{1[id]}",
            "--name",
            "Their sync",
            "--scope",
            "contacts.readonly",
            "--inactivity-window",
            "1d",
            "--json",
        ],
        ["token", "generate", "{13[id]}", "--json"],
    )
    return {
        "agency": results[0]["id"],
        "other": results[1]["id"],
        "tokens": [results[index]["token"] for index in (7, 9, 10, 12, 14)],
        "idle": results[6]["id"],
        "grace": results[8]["id"],
        "theirs": results[13]["id"],
    }


def test_due_warnings_are_mailed_once_to_the_accounts_admins_across_workers_and_a_restart(tmp_path, inbox):
    handler, port = inbox
    server = make_authserver(
        tmp_path,
        AUTHSERVER_SMTP_URL=f"smtp://127.0.0.1:{port}",
        AUTHSERVER_MAIL_FROM=SENDER,
        AUTHSERVER_LOG_LEVEL="debug",
    )
    seeded = seed(server)
    agency_admins = ["first-admin@agency.test", "second-admin@agency.test"]

    proc = serve(server)
    try:
        wait_until(lambda: len(handler.received()) >= 3, 60, "three warnings")
        # Both workers' first passes are over (each logs its end; the next is a minute away): nothing more arrives.
        wait_until(lambda: server.log_path.read_text().count("expiry mail pass:") >= 2, 60, "both first passes")
    finally:
        stop(proc)
    received = handler.received()
    by_subject = {message["Subject"]: (rcpts, message) for rcpts, message in received}
    assert len(received) == 3, [message["Subject"] for _, message in received]
    assert by_subject["Token expires if unused: Nightly export (Northwind Agency)"][0] == agency_admins
    assert by_subject["Old token's grace period ends: Helpdesk (Northwind Agency)"][0] == agency_admins
    assert by_subject["Token expires if unused: Their sync (Unrelated Co)"][0] == ["admin@unrelated.test"]

    rcpts, message = by_subject["Token expires if unused: Nightly export (Northwind Agency)"]
    assert message["From"] == SENDER and message["To"] == ", ".join(agency_admins)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"{server.url}/accounts/{seeded['agency']}/settings/integrations/{seeded['idle']}"
    assert link in text and link in html
    assert "expires at" in text and "unless it is used" in text
    for _rcpts, message in received:  # no token, nor a token's id, ever
        raw = message.as_string()
        assert not any(token in raw for token in seeded["tokens"])
        assert "tok_" not in raw

    proc = serve(server, workers=1)  # a restart: the markers are in the database
    try:
        lines_before = server.log_path.read_text().count("expiry mail pass:")
        wait_until(
            lambda: server.log_path.read_text().count("expiry mail pass:") > lines_before, 30, "a pass after restart"
        )
    finally:
        stop(proc)
    assert len(handler.received()) == 3
    log = server.log_path.read_text()
    assert "expiry mail to account admins via smtp://127.0.0.1" in log
    assert PASSWORD not in log


def test_without_a_mail_setting_no_mail_and_one_start_up_line(tmp_path, inbox):
    handler, _port = inbox
    server = make_authserver(tmp_path)
    seed(server)
    proc = serve(server)
    try:
        time.sleep(7)  # past the first pass a configured worker would make
    finally:
        stop(proc)
    log = server.log_path.read_text()
    assert log.count("expiry mail is off: AUTHSERVER_SMTP_URL is not set") == 1  # the parent, not each worker
    assert handler.received() == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUTHSERVER_SMTP_URL": "smtp://127.0.0.1:2525"}, "AUTHSERVER_MAIL_FROM is required"),
        ({"AUTHSERVER_SMTP_URL": "http://127.0.0.1:2525", "AUTHSERVER_MAIL_FROM": SENDER}, "AUTHSERVER_SMTP_URL must"),
    ],
)
def test_a_bad_mail_setting_is_a_one_line_error_at_start(tmp_path, env, message):
    port = free_port()
    done = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "authserver", "run", "--port", str(port)],
        env={**make_env(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def make_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL"))}
    return env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys")}
