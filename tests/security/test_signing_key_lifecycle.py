"""Signing keys have a lifecycle (pending, active, retired, revoked), proved over HTTP against real ``authserver``
processes driven through the real CLI: a token verifies only under the key that signed it, a rotated key is published
for the JWKS max-age before it signs, a revoked key's tokens are dead at once in every instance and on the event feed,
and start-up refuses key files others may read.

One server (and, for the multi-instance test, a second process on the same database and keys) for the module; its
clock only moves forward, so tests that move it stay valid in any order.
"""

from __future__ import annotations

import json
import contextlib
import re
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
import requests
import sqlalchemy
from cryptography.hazmat.primitives import serialization

from tests.support.servers import AuthServerProcess, free_port, make_authserver

from .conftest import AUDIENCE, Target, seed, start_together
from .forge import parts, sign

TIMEOUT = 30


class Clock:
    """The server's clock offset, only ever moved forward (a key that started signing must not go back to pending)."""

    def __init__(self, server: AuthServerProcess) -> None:
        self.server, self.offset = server, 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.server.set_clock_offset(self.offset)
        time.sleep(0.05)  # the server re-reads the file when its mtime changes


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("key-lifecycle"), AUTHSERVER_AUDIENCE=AUDIENCE)
    target = seed(server)
    server.start()
    try:
        yield target, Clock(server)
    finally:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture
def target(world) -> Target:
    return world[0]


@pytest.fixture
def clock(world) -> Clock:
    return world[1]


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def jwks(target: Target) -> requests.Response:
    response = requests.get(f"{target.url}/.well-known/jwks.json", timeout=TIMEOUT)
    assert response.status_code == 200
    return response


def published(target: Target) -> set[str]:
    return {key["kid"] for key in jwks(target).json()["keys"]}


def keys_by_kid(target: Target) -> dict[str, dict]:
    return {key["kid"]: key for key in target.server.cli("keys", "list", "--json")["keys"]}


def private_key(target: Target, kid: str):
    """The key file's private key, as someone who copied the keys directory would hold it."""
    pem = (target.server.workdir / "keys" / f"{kid}.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def resign_with(token: str, kid: str, key) -> str:
    """The genuine token's header and claims, unchanged but for ``kid``, signed with ``key``."""
    header, claims = parts(token)
    return sign(header | {"kid": kid}, claims, key, header["alg"])


def introspect(target: Target, token: str, path: str) -> dict:
    """Through the direct WSGI path (a plain form) or the Flask route (a chunked body is left to it)."""
    body = f"token={token}".encode()
    data = body if path == "direct" else iter([body])
    response = requests.post(
        f"{target.url}/oauth/introspect",
        data=data,
        auth=target.resource_service,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- finding 1: a token verifies only under the key that signed it -----------------------------------------------
@pytest.mark.parametrize("path", ["direct", "flask"])
@pytest.mark.parametrize("old_key_still_published", [False, True], ids=["old-key-unpublished", "old-key-published"])
def test_a_live_tokens_claims_re_signed_with_a_rotated_out_key_are_inactive(target, path, old_key_still_published):
    old_kid = target.server.cli("keys", "rotate", "--now", "--json")["kid"]  # a key no other test's token needs
    before = target.agency.integration_with_token() if old_key_still_published else None
    stolen = private_key(target, old_kid)  # copied while it was the signing key
    rotated = target.server.cli("keys", "rotate", "--now", "--json")
    issued = target.agency.integration_with_token()
    assert kid_of(issued["token"]) == rotated["kid"] != old_kid
    assert (old_kid in published(target)) is old_key_still_published

    forged = resign_with(issued["token"], old_kid, stolen)

    assert introspect(target, forged, path) == {"active": False}
    assert introspect(target, issued["token"], path)["active"] is True
    if before is not None:  # the old key still verifies what it really signed
        assert introspect(target, before["token"], path)["active"] is True
        assert introspect(
            target, resign_with(before["token"], rotated["kid"], private_key(target, rotated["kid"])), path
        ) == {"active": False}


def test_a_rotated_out_key_no_token_needs_leaves_the_jwks_and_its_private_key_file_is_removed(target, clock):
    old_kid = target.server.cli("keys", "rotate", "--now", "--json")["kid"]  # a key no other test's token needs
    issued = target.agency.generate(target.agency.create_integration()["id"], expires_in="1h")
    assert kid_of(issued["token"]) == old_kid
    target.server.cli("keys", "rotate", "--now", "--json")
    assert old_kid in published(target) and (target.server.workdir / "keys" / f"{old_kid}.pem").exists()
    assert keys_by_kid(target)[old_kid]["state"] == "retired"

    clock.advance(3601)  # the old key's last token has expired

    assert old_kid not in published(target)
    listed = keys_by_kid(target)[old_kid]
    assert listed["state"] == "retired" and not listed["published"] and not listed["private_key_present"]
    assert not (target.server.workdir / "keys" / f"{old_kid}.pem").exists()
    assert not target.is_active(issued["token"])


# -- finding 2: a new key is published for the JWKS max-age before it signs -------------------------------------
def test_after_keys_rotate_new_tokens_are_signed_only_by_a_key_every_honoured_jwks_cache_already_holds(target, clock):
    cached = jwks(target)
    max_age = int(re.search(r"max-age=(\d+)", cached.headers["Cache-Control"]).group(1))
    cached_kids = {key["kid"] for key in cached.json()["keys"]}
    rotated = target.server.cli("keys", "rotate", "--json")
    assert set(rotated) == {"kid", "state", "signs_from"} and rotated["state"] == "pending"
    now = datetime.now(UTC).timestamp() + clock.offset
    signs_from = datetime.fromisoformat(rotated["signs_from"].replace("Z", "+00:00")).timestamp()
    assert signs_from - now >= max_age - 5

    assert rotated["kid"] in published(target)  # published at once
    during = target.agency.integration_with_token()
    assert kid_of(during["token"]) in cached_kids  # a service honouring max-age verifies it with what it has
    assert keys_by_kid(target)[rotated["kid"]]["state"] == "pending"

    clock.advance(max_age + 1)  # every cache fetched before the rotation has expired by now

    after = target.agency.integration_with_token()
    assert kid_of(after["token"]) == rotated["kid"]
    assert keys_by_kid(target)[rotated["kid"]]["state"] == "active"
    assert target.is_active(after["token"]) and target.is_active(during["token"])


def test_keys_rotate_now_signs_at_once(target):
    rotated = target.server.cli("keys", "rotate", "--now", "--json")
    assert rotated["state"] == "active"
    assert kid_of(target.agency.integration_with_token()["token"]) == rotated["kid"]


# -- keys revoke -------------------------------------------------------------------------------------------------
@pytest.fixture
def second_instance(target):
    """Another ``authserver run`` on the same database and keys directory (the same issuer behind a balancer)."""
    server = AuthServerProcess(workdir=target.server.workdir / "second", port=free_port(), env=dict(target.server.env))
    server.workdir.mkdir(exist_ok=True)
    start_together(server)
    yield server
    server.stop()


def test_revoking_a_key_makes_every_token_it_signed_inactive_at_once_in_every_instance(target, second_instance):
    signed_by_old = target.agency.integration_with_token()
    old_kid = kid_of(signed_by_old["token"])
    new_kid = target.server.cli("keys", "rotate", "--now", "--json")["kid"]
    signed_by_new = target.agency.integration_with_token()
    urls = [target.url, second_instance.url]

    def active(url: str, token: str) -> bool:
        response = requests.post(
            f"{url}/oauth/introspect", data={"token": token}, auth=target.resource_service, timeout=TIMEOUT
        )
        assert response.status_code == 200, response.text
        return response.json()["active"]

    assert all(active(url, signed_by_old["token"]) for url in urls)  # both have verified (and cached) it

    revoked = target.server.cli("keys", "revoke", old_kid, "--json")

    assert revoked["kid"] == old_kid and revoked["state"] == "revoked" and revoked["replaced_by"] is None
    assert not any(active(url, signed_by_old["token"]) for url in urls)
    assert all(active(url, signed_by_new["token"]) for url in urls)
    assert old_kid not in published(target) and new_kid in published(target)
    listed = keys_by_kid(target)[old_kid]
    assert listed["state"] == "revoked" and listed["revoked_at"] and not listed["private_key_present"]
    tokens = target.agency.request("GET", f"/integrations/{signed_by_old['integration_id']}/tokens").json()
    assert tokens["tokens"][0]["status"] != "active"


def test_revoking_the_signing_key_rotates_first_and_new_tokens_work(target):
    current = target.agency.integration_with_token()
    current_kid = kid_of(current["token"])

    revoked = target.server.cli("keys", "revoke", current_kid, "--json")

    replacement = revoked["replaced_by"]
    assert replacement and replacement != current_kid
    assert keys_by_kid(target)[replacement]["state"] == "active"
    assert not target.is_active(current["token"])
    fresh = target.agency.integration_with_token()
    assert kid_of(fresh["token"]) == replacement and target.is_active(fresh["token"])
    assert published(target) >= {replacement} and current_kid not in published(target)


def test_a_key_revocation_is_audited_and_reaches_every_resource_service_on_the_feed(target):
    cursor = requests.get(
        f"{target.url}/oauth/events", params={"after": 0}, auth=target.agency_service, timeout=TIMEOUT
    ).json()["cursor"]
    kid = kid_of(target.agency.integration_with_token()["token"])
    target.server.cli("keys", "rotate", "--now", "--json")
    target.server.cli("keys", "revoke", kid, "--json")

    for service in (target.resource_service, target.agency_service):  # bound to no account, and to the agency
        events = requests.get(
            f"{target.url}/oauth/events", params={"after": cursor}, auth=service, timeout=TIMEOUT
        ).json()["events"]
        assert [event["kid"] for event in events if event["type"] == "key.revoked"] == [kid]
        snapshot = requests.get(f"{target.url}/oauth/events/snapshot", auth=service, timeout=TIMEOUT).json()
        assert kid in snapshot["revoked_keys"]
    engine = sqlalchemy.create_engine(target.server.env["DATABASE_URL"])
    with engine.connect() as connection:
        row = connection.execute(
            sqlalchemy.text(
                "SELECT actor_type, target_type FROM audit_events WHERE action = 'key.revoked' AND target_id = :kid"
            ),
            {"kid": kid},
        ).one()
    engine.dispose()
    assert tuple(row) == ("operator", "signing_key")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "revoke", "no-such-kid", "--json"], "no signing key no-such-kid"),
        (["keys", "revoke", "--json"], "Missing argument"),
    ],
)
def test_keys_revoke_refuses_bad_input_in_one_line(target, argv, message):
    done = target.server.cli(*argv, check=False)
    assert done.returncode != 0 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_revoking_a_key_twice_is_a_one_line_conflict(target):
    kid = kid_of(target.agency.integration_with_token()["token"])
    target.server.cli("keys", "revoke", kid, "--json")
    done = target.server.cli("keys", "revoke", kid, "--json", check=False)
    assert done.returncode == 1 and f"signing key {kid} is already revoked" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_keys_list_shows_every_key_with_its_state_and_dates(target):
    keys = target.server.cli("keys", "list", "--json")["keys"]
    assert {key["state"] for key in keys} <= {"pending", "active", "retired", "revoked"}
    assert sum(key["state"] == "active" for key in keys) == 1
    for key in keys:
        assert {
            "kid",
            "alg",
            "state",
            "created_at",
            "signs_from",
            "retired_at",
            "revoked_at",
            "published",
            "private_key_present",
        } <= set(key)
        assert (key["revoked_at"] is not None) is (key["state"] == "revoked")


# -- start-up refuses key material others may read or write -----------------------------------------------------
@pytest.mark.parametrize(
    ("what", "mode", "fix"),
    [
        ("file", 0o640, "chmod 600"),
        ("file", 0o602, "chmod 600"),
        ("dir", 0o750, "chmod 700"),
        ("dir", 0o707, "chmod 700"),
    ],
)
def test_start_up_refuses_key_files_or_directory_open_to_group_or_others(tmp_path, what, mode, fix):
    server = make_authserver(tmp_path / "perms")
    keys_dir = Path(server.env["AUTHSERVER_KEYS_DIR"])
    [key_file] = keys_dir.glob("*.pem")
    path = key_file if what == "file" else keys_dir
    path.chmod(mode)

    for argv in (["init", "--json"], ["run", "--port", str(server.port)]):
        done = server.cli(*argv, check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        if "--json" in argv:  # the error is one JSON line on stderr
            line = json.loads(done.stderr.strip().splitlines()[-1])["error"]["detail"]
        else:
            [line] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]  # `run` also logs
        assert str(path) in line and f"`{fix} {path}`" in line

    path.chmod(0o600 if what == "file" else 0o700)
    assert server.cli("init", "--json")["current_kid"] == key_file.stem


def test_a_fresh_keys_directory_left_open_by_a_checkout_is_tightened_before_the_first_key(tmp_path):
    keys_dir = tmp_path / "checkout" / "keys"
    keys_dir.mkdir(parents=True)
    keys_dir.chmod(0o755)
    server = make_authserver(tmp_path / "checkout", AUTHSERVER_KEYS_DIR=str(keys_dir))
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in keys_dir.glob("*.pem")] == [0o600]
    assert server.cli("keys", "list", "--json")["keys"][0]["state"] == "active"
