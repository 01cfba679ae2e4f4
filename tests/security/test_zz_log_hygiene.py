"""No secret, token or password in any log line.

Runs last in the security run (hence the name): first it sends what careless or hostile clients send (tokens in
URLs, secrets in paths, garbled request lines carrying a token), then it reads every server log this pytest
session wrote (the whole security catalogue, the rate-limit, fault and fuzzing servers, and the end-to-end
suite's servers when they ran in the same session, on any pytest-xdist worker, as far as they got) and looks
for every secret, token, password, session id and CSRF token the run handed out, and for anything shaped like a
JWT.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import requests

from .conftest import PASSWORD, SECRETS, remember

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def send_raw(url: str, data: bytes) -> None:
    host, port = url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(data)
        try:
            connection.recv(4096)
        except OSError:
            pass


def test_careless_and_hostile_requests_leave_no_secret_in_the_log(target):
    issued = target.agency.integration_with_token()
    token, client_id, secret = issued["token"], *target.resource_service
    remember(token)
    url = target.url
    requests.get(f"{url}/oauth/introspect", params={"token": token}, auth=(client_id, secret), timeout=30)
    requests.post(
        f"{url}/oauth/introspect",
        params={"token": token, "client_secret": secret},
        data={"token": token},
        auth=(client_id, secret),
        timeout=30,
    )
    requests.get(f"{url}/api/integrations/{token}", auth=target.agency.credentials, timeout=30)
    requests.get(f"{url}/api/{secret}", timeout=30)
    requests.get(f"{url}/signin", params={"password": PASSWORD, "next": f"/?token={token}"}, timeout=30)
    requests.post(f"{url}/signin", data={"email": target.users["agency_admin"], "password": PASSWORD}, timeout=30)
    requests.post(f"{url}/oauth/revoke", data={"token": token, "client_secret": secret}, timeout=30)
    send_raw(url, f"GARBAGE {token}\r\n\r\n".encode())
    send_raw(url, f"GET /oauth/introspect?token={token} HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode())
    send_raw(url, f"GET /?secret={secret} HTTP/7.0\r\n\r\n".encode())
    send_raw(url, b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + secret.encode() + b"\xff\r\n\r\n")
    assert target.is_active(token)  # still served normally afterwards

    log = target.server.log_path.read_text()
    assert token not in log and secret not in log and PASSWORD not in log
    assert not JWT.search(log)


def test_no_log_line_of_the_whole_run_holds_a_secret_token_or_password(target, tmp_path_factory):
    base = Path(tmp_path_factory.getbasetemp())
    # Under pytest-xdist each worker has its own folder (popen-gwN) below the run's: read every worker's logs.
    root = base.parent if base.name.startswith("popen-gw") else base
    logs = sorted(root.rglob("*.log"))
    assert target.server.log_path in logs
    secrets = {value for value in SECRETS if len(value) >= 12}
    assert len(secrets) >= 5  # passwords, client secrets and tokens at the very least
    leaks = []
    for path in logs:
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            found = [value for value in secrets if value in line]
            if found or JWT.search(line):
                leaks.append(f"{path.name}:{number}: {line[:160]}")
    assert leaks == [], "\n".join(leaks[:20])
