"""Every Python face of the package over real processes on 127.0.0.1 against the real authorization server: the
examples of clients/python/examples (Flask, bare WSGI, Starlette, FastAPI), in both modes, give the same answers."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

import pytest
import requests

from tests.support.servers import ROOT, free_port

from .conftest import READ, RESOURCE, WRITE, Process, seconds_until

EXAMPLES = ROOT / "clients" / "python" / "examples"
FACES = ["flask_app", "wsgi_app", "starlette_app", "fastapi_app"]
CHALLENGE_401 = 'Bearer realm="v2", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v2"'
CHALLENGES_NO_TOKEN = CHALLENGE_401 + ', DPoP algs="ES256 ES384 PS256 RS256 EdDSA"'  # RFC 9449 section 7.2


def start_example(kit, workdir, name: str, mode: str, **env: str) -> tuple[Process, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environment = (
        {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
        | {
            "ISSUER": kit.server.url,
            "CLIENT_ID": kit.service["client_id"],
            "CLIENT_SECRET": kit.service["client_secret"],
            "MODE": mode,
            "RESOURCE": RESOURCE,
            "PYTHONUNBUFFERED": "1",
        }
        | env
    )
    process = Process(
        [sys.executable, str(EXAMPLES / f"{name}.py"), str(port)],
        workdir / f"{name}.log",
        env=environment,
        cwd=EXAMPLES,
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: requests.get(f"{url}/healthz", timeout=1).json()["status"] == "ok")
    return process, url


@pytest.fixture(
    params=[(face, mode) for face in FACES for mode in ("introspection", "local")], ids=lambda p: f"{p[0]}-{p[1]}"
)
def service(request, kit, tmp_path):
    face, mode = request.param
    process, url = start_example(kit, tmp_path, face, mode)
    yield url, f"{face} {mode}"
    process.stop()


def call(url: str, token: str | None = None, method: str = "GET") -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, url, headers=headers, timeout=10)


def test_every_face_gives_the_same_verdicts(kit, service):
    url, name = service
    token = kit.token([READ], f"faces {name}")

    allowed = call(f"{url}/v2/contacts", token)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["account_id"] == kit.admin.account_id and allowed.json()["scopes"] == [READ]

    refused = call(f"{url}/v2/contacts", token, method="POST")
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope" and refused.json()["scope"] == WRITE
    assert f'scope="{WRITE}"' in refused.headers["WWW-Authenticate"]

    missing = call(f"{url}/v2/contacts")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == CHALLENGES_NO_TOKEN

    forged = call(f"{url}/v2/contacts", token[:-4] + "AAAA")
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"
    assert forged.headers["WWW-Authenticate"].endswith(CHALLENGE_401.removeprefix('Bearer realm="v2"'))

    in_query = requests.get(f"{url}/v2/contacts", params={"access_token": token}, timeout=10)
    assert in_query.status_code == 400 and in_query.json()["error"] == "invalid_request"

    document = requests.get(f"{url}/.well-known/oauth-protected-resource/v2", timeout=10).json()
    assert document["resource"] == RESOURCE and document["authorization_servers"] == [kit.server.url]
    assert document["bearer_methods_supported"] == ["header"] and READ in document["scopes_supported"]

    kit.revoke(token)
    assert seconds_until(lambda: call(f"{url}/v2/contacts", token).status_code == 401, timeout=5) < 1.0


@pytest.mark.parametrize("mode", ["introspection", "local"])
def test_calls_show_in_the_servers_activity_within_ten_seconds_counted_once(kit, tmp_path, mode):
    """8 calls are 8 uses in both modes (in introspection mode they were once counted as the introspections)."""
    process, url = start_example(kit, tmp_path, "flask_app", mode)  # the default 5 s report interval
    try:
        integration = kit.admin.create_integration(f"activity {mode}", [READ])
        token = kit.admin.generate_token(integration)
        started = datetime.now(UTC)
        for _ in range(8):
            assert call(f"{url}/v2/contacts", token).status_code == 200

        def uses_today() -> int:
            usage = kit.admin.call("GET", f"/api/integrations/{integration}/activity?days=1")["usage"]
            return sum(day["count"] for day in usage)

        elapsed = seconds_until(lambda: uses_today() >= 8, timeout=15, interval=0.25)
        assert elapsed < 10.0
        last_used = kit.admin.call("GET", f"/api/integrations/{integration}/activity?days=1")["last_used_at"]
        assert last_used is not None and datetime.fromisoformat(last_used.replace("Z", "+00:00")) >= started.replace(
            microsecond=0
        )
    finally:
        process.stop()  # a last report on the way out
    time.sleep(3)  # past the server's activity flush (2 s): a call counted twice would show by now
    assert uses_today() == 8
