"""Rate-limit defaults that fit the main user, and per-client overrides (issue 16 §4).

One real ``authserver serve --workers 2`` (granian, SQLite, no Redis, the shipped default limits). A client's own
limit is set through the CLI and the admin API, holds from the next request on both workers, refuses with 429 and
an integer ``Retry-After``; the default lets a resource service at full speed (wrk) through far past the old
6000/1m without one refusal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

from tests.factories import basic
from tests.support.resource_demo import cli_batch
from tests.support.servers import ROOT, make_authserver, wait_for_http

OLD_DEFAULT = (6000, 60)  # the default this replaces: a full-speed service got 62,374 x 429 of ~76,000 in 10 s
WRK = shutil.which("wrk")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("client-limits"))
    account, admin, fast, mine, other_admin, integration = cli_batch(
        server,
        ("account", "create", "--name", "Limits Co", "--json"),
        ("client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
        ("client", "create", "--name", "fast", "--kind", "resource-service", "--json"),
        ("client", "create", "--name", "mine", "--kind", "resource-service", "--account", "{0[id]}", "--json"),
        ("client", "create", "--name", "admin 2", "--kind", "admin", "--account", "{0[id]}", "--json"),
        ("integration", "create", "--account", "{0[id]}", "--name", "i", "--scope", "contacts.readonly", "--json"),
    )
    (token,) = cli_batch(server, ("token", "generate", integration["id"], "--json"))
    with open(server.log_path, "ab") as log:
        server.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "authserver", "serve", "--port", str(server.port), "--workers", "2"],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.workdir,
        )
    try:
        wait_for_http(f"{server.url}/.well-known/oauth-authorization-server", server.proc, server.log_path, timeout=90)
        yield (
            server,
            {
                "account": account["id"],
                "admin": (admin["client_id"], admin["client_secret"]),
                "other_admin": other_admin["client_id"],
                "fast": (fast["client_id"], fast["client_secret"]),
                "mine": (mine["client_id"], mine["client_secret"]),
                "token": token["token"],
            },
        )
    finally:
        server.stop()


def introspect(server, client: tuple[str, str], token: str) -> requests.Response:
    """On a fresh connection each time, so that requests reach both workers."""
    return requests.post(
        f"{server.url}/oauth/introspect",
        data={"token": token},
        headers={**basic(*client), "Connection": "close"},
        timeout=15,
    )


def set_limit_api(server, admin: tuple[str, str], client_id: str, body) -> requests.Response:
    return requests.put(f"{server.url}/api/clients/{client_id}/limits", json=body, auth=admin, timeout=15)


def test_set_limit_through_the_cli_is_listed_and_default_clears_it(served):
    server, world = served
    client_id = world["mine"][0]
    set_, listed, cleared = cli_batch(
        server,
        ("client", "set-limit", client_id, "--introspection", "100000/1m", "--json"),
        ("client", "list", "--json"),
        ("client", "set-limit", client_id, "--introspection", "default", "--json"),
    )
    assert set_["client_id"] == client_id and set_["introspection_limit"] == "100000/1m"
    limits = {row["client_id"]: row["introspection_limit"] for row in listed["clients"]}
    assert limits[client_id] == "100000/1m" and limits[world["fast"][0]] is None  # None: the server's default
    assert cleared["introspection_limit"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--introspection", "lots"], "introspection must look like"),
        (["--introspection", "0/1m"], "introspection must look like"),
        (["--introspection", "100/1y"], "introspection must look like"),
        (["--introspection", "1000000000/1s"], "introspection must look like"),
    ],
)
def test_a_bad_cli_value_is_refused_in_one_line(served, args, message):
    server, world = served
    done = server.cli("client", "set-limit", world["fast"][0], *args, "--json", check=False)
    assert done.returncode == 1
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_an_admin_client_has_no_introspection_limit_to_set(served):
    server, world = served
    done = server.cli("client", "set-limit", world["admin"][0], "--introspection", "10/1m", check=False)
    assert done.returncode == 1 and "only a resource service" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_admin_api_sets_a_tighter_limit_and_audits_it(served):
    server, world = served
    client_id = world["mine"][0]
    answer = set_limit_api(server, world["admin"], client_id, {"introspection": "600/1m"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["introspection_limit"] == "600/1m"
    shown = requests.get(f"{server.url}/api/clients/{client_id}", auth=world["admin"], timeout=15).json()
    assert shown["introspection_limit"] == "600/1m"
    audit = requests.get(f"{server.url}/api/accounts/{world['account']}/audit", auth=world["admin"], timeout=15).json()
    changes = [e for e in audit["events"] if e["action"] == "client.limit_changed" and e["target"]["id"] == client_id]
    assert changes and changes[0]["after"] == {"introspection_limit": "600/1m"}
    cleared = set_limit_api(server, world["admin"], client_id, {"introspection": None})
    assert cleared.status_code == 200 and cleared.json()["introspection_limit"] is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"introspection": "fast please"}, 400, "introspection"),
        ({"introspection": 100}, 400, "introspection"),
        ({"introspection": "10/0m"}, 400, "introspection"),
        ({}, 400, "introspection"),
        ({"introspection": "off"}, 403, None),  # loosening is the operator's (CLI) alone
        ({"introspection": "400000/1s"}, 403, None),  # more than the default's burst and rate
        ({"introspection": "1000000/1h"}, 403, None),  # a slower rate, but a burst past the default's
    ],
)
def test_the_admin_api_refuses_bad_values_and_loosening_with_a_problem(served, body, status, field):
    server, world = served
    answer = set_limit_api(server, world["admin"], world["mine"][0], body)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == status
    if field:
        assert problem["errors"][0]["field"] == field


def test_the_admin_api_cannot_touch_a_resource_service_for_every_account(served):
    server, world = served
    answer = set_limit_api(server, world["admin"], world["fast"][0], {"introspection": "10/1m"})
    assert answer.status_code in (403, 404)
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_a_low_override_refuses_with_429_and_retry_after_from_the_next_request_on_both_workers(served):
    server, world = served
    client_id, token = world["fast"][0], world["token"]
    before = [introspect(server, world["fast"], token).status_code for _ in range(8)]
    assert before == [200] * 8  # the default
    cli_batch(server, ("client", "set-limit", client_id, "--introspection", "4/1h", "--json"))
    try:
        answers = [introspect(server, world["fast"], token) for _ in range(16)]
        statuses = [a.status_code for a in answers]
        # 4 per hour per instance: each of the 2 workers grants 2, wherever the connections land.
        assert statuses.count(200) <= 4 and statuses.count(429) >= 12, statuses
        for refused in (a for a in answers if a.status_code == 429):
            assert refused.json()["error"] == "temporarily_unavailable"
            assert refused.headers["Retry-After"].isdigit() and 1 <= int(refused.headers["Retry-After"]) <= 3600
    finally:
        cli_batch(server, ("client", "set-limit", client_id, "--introspection", "default", "--json"))
    after = [introspect(server, world["fast"], token).status_code for _ in range(8)]
    assert after == [200] * 8  # back to the default at once


@pytest.mark.skipif(WRK is None, reason="wrk is not installed")
def test_the_default_lets_a_full_speed_service_through_far_past_the_old_default(served, tmp_path):
    """wrk posts as fast as the server answers until it has sent well past what 6000/1m would have allowed in the
    same time; not one request is refused."""
    server, world = served
    bodies = tmp_path / "bodies"
    bodies.write_text(urllib.parse.urlencode({"token": world["token"]}) + "\n")
    env = dict(os.environ, BENCH_BODIES=str(bodies), BENCH_AUTHORIZATION=basic(*world["fast"])["Authorization"])
    sent = refused = 0
    started = time.monotonic()
    while time.monotonic() - started < 60:
        done = subprocess.run(  # noqa: S603
            [
                WRK,
                "-t",
                "2",
                "-c",
                "16",
                "-d",
                "3s",
                "-s",
                str(ROOT / "bench" / "wrk.lua"),
                server.url + "/oauth/introspect",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT "))
        result = json.loads(line.removeprefix("BENCH_RESULT "))
        sent += result["requests"]
        refused += result["status"]
        old_allowance = OLD_DEFAULT[0] + (time.monotonic() - started) * OLD_DEFAULT[0] / OLD_DEFAULT[1]
        if sent > 1.5 * old_allowance:
            break
    assert sent > 1.5 * old_allowance, f"only {sent} requests in {time.monotonic() - started:.0f}s"
    assert refused == 0, f"{refused} of {sent} refused"
