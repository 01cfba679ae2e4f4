"""Nothing that looks like one of our tokens reaches a log of any process (issue 13 §5).

A real resource_demo (in each protection mode) in front of the security run's real authorization server. Clients
put tokens where they should not: in the URL path (``GET /v2/<token>``), in a query string, in headers other than
Authorization, in a garbled request line. Then every log file both processes wrote is read: neither the token, a
v1 key, nor anything shaped like a compact JWS may be in it.
"""

from __future__ import annotations

import re
import secrets
import socket
import time

import pytest
import requests

from tests.support.resource_demo import make_resource_demo

from .conftest import AUDIENCE, remember, run_cli

JWS = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
TIMEOUT = 30


def send_raw(url: str, data: bytes) -> None:
    host, port = url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(data)
        try:
            connection.recv(4096)
        except OSError:
            pass


def careless_requests(url: str, token: str, v1_key: str) -> None:
    """What careless or hostile clients send: tokens in paths, queries, stray headers and broken request lines."""
    bearer = {"Authorization": f"Bearer {token}"}
    requests.get(f"{url}/v2/{token}", timeout=TIMEOUT)
    requests.get(f"{url}/v2/{token}", headers=bearer, timeout=TIMEOUT)
    requests.get(f"{url}/v2/contacts/{token}", headers=bearer, timeout=TIMEOUT)
    requests.get(f"{url}/v2/contacts", params={"access_token": token}, timeout=TIMEOUT)
    requests.get(f"{url}/v2/contacts", params={"token": token, "q": token}, headers=bearer, timeout=TIMEOUT)
    requests.get(
        f"{url}/v2/contacts",
        headers={"X-Debug-Token": token, "Referer": f"https://x.example/{token}", "Authorization": f"Bearer {token}x"},
        timeout=TIMEOUT,
    )
    requests.get(f"{url}/v2/contacts", headers={"Authorization": f"Bearer {token} {token}"}, timeout=TIMEOUT)
    requests.get(f"{url}/v1/contacts/{v1_key}", headers={"Authorization": f"Bearer {v1_key}"}, timeout=TIMEOUT)
    requests.get(f"{url}/v1/contacts", params={"api_key": v1_key}, timeout=TIMEOUT)
    requests.get(f"{url}/{token}/{v1_key}", timeout=TIMEOUT)
    send_raw(url, f"GARBAGE /v2/{token}\r\n\r\n".encode())
    send_raw(url, f"GET /v2/{token} HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode())
    send_raw(url, f"GET /v1/{v1_key} HTTP/7.0\r\n\r\n".encode())
    send_raw(
        url, f"GET /v2/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\xff\r\n\r\n".encode("latin-1")
    )


@pytest.fixture(params=["introspection", "local"])
def resource_demo(request, target, tmp_path_factory):
    client_id, secret = target.resource_service
    demo = make_resource_demo(
        tmp_path_factory.mktemp(f"demo-logs-{request.param}"),
        authserver_url=target.url,
        client_id=client_id,
        client_secret=secret,
        mode=request.param,
        RESOURCE_DEMO_AUDIENCE=AUDIENCE,
    )
    demo.start(timeout=60)
    try:
        yield demo
    finally:
        demo.stop()


def test_a_token_in_a_url_path_query_or_header_reaches_no_log_of_either_process(target, resource_demo):
    token = target.agency.integration_with_token()["token"]
    v1_key = run_cli(target.server, (["v1-key", "create", "--account", target.agency.account_id, "--json"], None))[0][
        "key"
    ]
    remember(v1_key)
    demo_log, server_log = resource_demo.log_path, target.server.log_path
    served = requests.get(
        f"{resource_demo.url}/v2/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert served.status_code == 200, served.text  # a real token, really accepted: the requests below are heard

    careless_requests(resource_demo.url, token, v1_key)
    careless_requests(target.url, token, v1_key)
    marker = f"/after-careless-requests-{secrets.token_hex(4)}"
    requests.get(target.url + marker, timeout=TIMEOUT)
    assert (
        requests.get(
            f"{resource_demo.url}/v2/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        ).status_code
        == 200
    )  # and still served normally afterwards
    resource_demo.stop()  # its log is complete once it has exited

    deadline = time.monotonic() + 10  # the access log is written in batches: wait for the last request's line
    while marker not in server_log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker in server_log.read_text(errors="replace")
    assert "/v2/" in demo_log.read_text(errors="replace")  # request lines are logged, only the tokens are not
    for path in (demo_log, server_log):
        text = path.read_text(errors="replace")
        leaks = [line[:200] for line in text.splitlines() if token in line or v1_key in line or JWS.search(line)]
        assert leaks == [], f"{path.name}:\n" + "\n".join(leaks[:10])
