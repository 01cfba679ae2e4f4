"""Signing keys: first-start generation, refusing to start on a key directory that does not add up, rotation, and
the JWKS that keeps old public keys exactly as long as their tokens may be active."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from authserver import create_app
from authserver.database import prepare
from authserver.extensions import db
from authserver.keys import KeyStoreError
from authserver.models import SigningKey
from authserver.principals import OPERATOR
from authserver.tokens import load_state
from tests.factories import make_account, make_integration

from .helpers import Lifecycle

# RFC 7638 section 3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def rfc7638_thumbprint(jwk: dict) -> str:
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


@pytest.fixture
def start(app_config, clock):
    """Start an app (migrate + keys) on the test's database, as ``authserver run`` would; cleaned up after."""
    started = []

    def _start(**overrides):
        app = create_app({**app_config, **overrides}, clock=clock)
        started.append(app)
        prepare(app)
        return app

    yield _start
    for app in started:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def published_kids(app) -> list[str]:
    with app.app_context():
        services = app.extensions["authserver"]
        return [key["kid"] for key in services.keystore.published_jwks(services.clock.now())["keys"]]


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_first_start_writes_one_owner_only_key_file_named_by_its_rfc7638_thumbprint(start, tmp_path, alg):
    keys_dir = tmp_path / "fresh-keys"
    app = start(AUTHSERVER_KEYS_DIR=str(keys_dir), AUTHSERVER_SIGNING_ALG=alg)
    files = list(keys_dir.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pem"
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    with app.app_context():
        row = db.session.scalars(select(SigningKey)).one()
    assert row.alg == alg and row.retired_at is None
    assert files[0].stem == row.kid == rfc7638_thumbprint(row.public_jwk)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(row.public_jwk)  # the database holds the public half only


def test_a_restart_reuses_the_key_on_disk(start, app_config):
    first = start()
    kid = published_kids(first)
    second = start()
    assert published_kids(second) == kid
    assert len(list(Path(app_config["AUTHSERVER_KEYS_DIR"]).glob("*.pem"))) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "public_key_only", "unreadable", "renamed"])
def test_a_corrupt_or_unreadable_key_file_stops_start_up(start, app_config, damage):
    start()
    keys_dir = Path(app_config["AUTHSERVER_KEYS_DIR"])
    [path] = keys_dir.glob("*.pem")
    pem = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a key at all")
    elif damage == "truncated":
        path.write_bytes(pem[: len(pem) // 2])
    elif damage == "public_key_only":
        from cryptography.hazmat.primitives import serialization

        public = serialization.load_pem_private_key(pem, None).public_key()
        path.write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    elif damage == "unreadable":  # root reads any file, so make reading fail the way a bad mount does
        path.unlink()
        path.mkdir()
    elif damage == "renamed":
        path.rename(keys_dir / "someone-elses-kid.pem")
    with pytest.raises(KeyStoreError):
        start()
    assert len(list(keys_dir.iterdir())) == 1  # and no new key was made to paper over it


def test_an_empty_key_directory_with_keys_on_record_stops_start_up(start, tmp_path):
    start()
    with pytest.raises(KeyStoreError, match="empty"):
        start(AUTHSERVER_KEYS_DIR=str(tmp_path / "empty-keys"))
    assert not (tmp_path / "empty-keys").exists() or not any((tmp_path / "empty-keys").iterdir())


def test_a_missing_current_key_file_stops_start_up_even_if_older_keys_remain(start, app_config, clock):
    app = start()
    with app.app_context():
        old = app.extensions["authserver"].keystore.current_kid()
        clock.advance(1)
        new = app.extensions["authserver"].keystore.rotate(clock.now()).kid
        db.session.commit()
    (Path(app_config["AUTHSERVER_KEYS_DIR"]) / f"{new}.pem").unlink()
    assert (Path(app_config["AUTHSERVER_KEYS_DIR"]) / f"{old}.pem").exists()
    with pytest.raises(KeyStoreError, match=new):
        start()


def test_rotate_makes_a_new_current_key_and_tokens_of_both_keys_verify(app, services, clock):
    lifecycle = Lifecycle(services, clock)
    account = make_account(clock)
    before = lifecycle.generate(make_integration(clock, account.id, name="before").id)
    assert services.verifier.verify(before.token) is not None  # the verifier has loaded the keys it knew
    old_kid = services.keystore.current_kid()
    clock.advance(1)
    new_kid = services.keystore.rotate(clock.now(), immediate=True).kid
    after = lifecycle.generate(make_integration(clock, account.id, name="after").id)  # signed at once
    assert new_kid != old_kid and services.keystore.current_kid(clock.now()) == new_kid
    assert jwt.get_unverified_header(before.token)["kid"] == old_kid
    assert jwt.get_unverified_header(after.token)["kid"] == new_kid
    services.verifier.cache.clear()
    assert services.verifier.verify(before.token) is not None
    assert services.verifier.verify(after.token) is not None  # within a second of the rotation, too
    assert stat.S_IMODE(os.stat(Path(services.keystore.directory) / f"{new_kid}.pem").st_mode) == 0o600


def test_jwks_keeps_a_retired_key_while_a_token_it_signed_may_be_active_and_drops_it_after(app, services, clock):
    lifecycle = Lifecycle(services, clock)
    issued = lifecycle.generate(make_integration(clock, make_account(clock).id).id, expires_in=3600)
    old_kid = services.keystore.current_kid()
    clock.advance(1)
    new_kid = services.keystore.rotate(clock.now(), immediate=True).kid
    db.session.commit()
    assert published_kids(app) == [new_kid, old_kid]
    clock.set(issued.record.expires_at - timedelta(seconds=1))
    assert published_kids(app) == [new_kid, old_kid]
    clock.set(issued.record.expires_at)
    assert published_kids(app) == [new_kid]


def test_jwks_drops_a_retired_key_once_its_last_token_is_revoked(app, services, clock):
    lifecycle = Lifecycle(services, clock)
    integration = make_integration(clock, make_account(clock).id)
    lifecycle.generate(integration.id)
    new_kid = services.keystore.rotate(clock.now(), immediate=True).kid
    db.session.commit()
    lifecycle.expire_now(integration.id)
    assert published_kids(app) == [new_kid]


def test_a_retired_key_with_no_tokens_is_not_published(app, services, clock):
    new_kid = services.keystore.rotate(clock.now(), immediate=True).kid
    db.session.commit()
    assert published_kids(app) == [new_kid]


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_the_configured_algorithm_signs_tokens_that_verify_against_the_jwks(start, tmp_path, clock, alg):
    app = start(AUTHSERVER_KEYS_DIR=str(tmp_path / f"keys-{alg}"), AUTHSERVER_SIGNING_ALG=alg)
    with app.app_context():
        services = app.extensions["authserver"]
        issued = Lifecycle(services, clock).generate(make_integration(clock, make_account(clock).id).id)
        token, jti = issued.token, issued.record.jti
        [jwk] = services.keystore.published_jwks(clock.now())["keys"]
        assert services.verifier.verify(token) is not None
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg == jwk["alg"] and header["kid"] == jwk["kid"]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token, key, algorithms=[alg], audience=app.config["AUTHSERVER_AUDIENCE"], options={"verify_exp": False}
    )
    assert claims["jti"] == jti


# -- the lifecycle: pending, active, retired, revoked ------------------------------------------------------------
def states(services, now) -> dict[str, str]:
    return {row["kid"]: row["state"] for row in services.keystore.list_keys(now)}


def test_a_rotated_key_is_published_at_once_and_signs_only_after_the_prepublication_window(app, services, clock):
    lifecycle = Lifecycle(services, clock)
    account = make_account(clock)
    old_kid = services.keystore.current_kid(clock.now())
    new = services.keystore.rotate(clock.now())
    db.session.commit()
    assert (
        new.signs_from
        == clock.now() + timedelta(seconds=services.keystore.prepublish)
        == clock.now() + timedelta(seconds=300)
    )
    assert published_kids(app) == [new.kid, old_kid]
    assert states(services, clock.now()) == {old_kid: "active", new.kid: "pending"}

    clock.advance(299)
    during = lifecycle.generate(make_integration(clock, account.id, name="during").id)
    assert during.record.kid == old_kid
    clock.advance(1)
    after = lifecycle.generate(make_integration(clock, account.id, name="after").id)
    assert after.record.kid == new.kid
    assert states(services, clock.now()) == {old_kid: "retired", new.kid: "active"}
    assert set(published_kids(app)) == {old_kid, new.kid}  # the old key's token is live


def test_the_prepublication_window_is_a_setting(start, clock):
    app = start(AUTHSERVER_KEY_PREPUBLISH="15m")
    with app.app_context():
        keystore = app.extensions["authserver"].keystore
        assert keystore.rotate(clock.now()).signs_from == clock.now() + timedelta(minutes=15)


@pytest.mark.parametrize("value", ["-1", "8d", "five minutes", "1.5", "", "10y"])
def test_an_unusable_prepublication_window_stops_start_up(app_config, clock, value):
    from authserver.config import ConfigError

    with pytest.raises(ConfigError, match="AUTHSERVER_KEY_PREPUBLISH"):
        create_app({**app_config, "AUTHSERVER_KEY_PREPUBLISH": value}, clock=clock)


def test_rotate_now_signs_at_once_and_a_pending_key_never_signs(app, services, clock):
    old_kid = services.keystore.current_kid(clock.now())
    pending = services.keystore.rotate(clock.now())
    clock.advance(10)
    emergency = services.keystore.rotate(clock.now(), immediate=True)
    db.session.commit()
    assert services.keystore.current_kid(clock.now()) == emergency.kid
    clock.advance(3600)  # long past the pending key's signs_from
    assert services.keystore.current_kid(clock.now()) == emergency.kid
    assert states(services, clock.now()) == {old_kid: "retired", pending.kid: "retired", emergency.kid: "active"}
    assert published_kids(app) == [emergency.kid]


def test_revoking_a_pending_key_leaves_the_active_key_signing(app, services, clock):
    old_kid = services.keystore.current_kid(clock.now())
    pending = services.keystore.rotate(clock.now())
    services.keystore.revoke(pending.kid, OPERATOR, clock.now())
    db.session.commit()
    clock.advance(3600)
    assert services.keystore.current_kid(clock.now()) == old_kid
    assert states(services, clock.now()) == {old_kid: "active", pending.kid: "revoked"}
    assert published_kids(app) == [old_kid]


def test_revoking_the_signing_key_rotates_at_once_and_every_token_it_signed_dies(app, services, clock):
    lifecycle = Lifecycle(services, clock)
    issued = lifecycle.generate(make_integration(clock, make_account(clock).id).id)
    old_kid = issued.record.kid
    assert load_state(issued.record.jti).is_live(clock.now())
    revoked, replacement = services.keystore.revoke(old_kid, OPERATOR, clock.now())
    db.session.commit()
    assert revoked.revoked_at == clock.now() and replacement is not None
    assert services.keystore.current_kid(clock.now()) == replacement.kid
    state = load_state(issued.record.jti)
    assert state.key_revoked_at == clock.now() and not state.is_live(clock.now())
    assert published_kids(app) == [replacement.kid]


@pytest.mark.parametrize("kid", ["no-such-kid", ""])
def test_revoking_an_unknown_key_is_not_found(app, services, clock, kid):
    from authserver.errors import NotFoundError

    with pytest.raises(NotFoundError):
        services.keystore.revoke(kid, OPERATOR, clock.now())


def test_spent_private_key_files_are_removed_and_needed_ones_kept(app, services, clock):
    lifecycle = Lifecycle(services, clock)
    keys_dir = Path(services.keystore.directory)
    needed = lifecycle.generate(make_integration(clock, make_account(clock).id).id, expires_in=3600).record.kid
    unused = services.keystore.rotate(clock.now(), immediate=True).kid
    current = services.keystore.rotate(clock.now(), immediate=True).kid
    db.session.commit()
    assert services.keystore.remove_spent_key_files(clock.now()) == [unused]
    assert {p.stem for p in keys_dir.glob("*.pem")} == {needed, current}
    clock.advance(3600)
    assert services.keystore.remove_spent_key_files(clock.now()) == [needed]
    assert {p.stem for p in keys_dir.glob("*.pem")} == {current}


def test_start_up_records_an_unknown_key_file_as_a_key_that_never_signs(start, app_config, clock):
    """A rotation that died between writing its file and committing: the file is not made current."""
    app = start()
    keys_dir = Path(app_config["AUTHSERVER_KEYS_DIR"])
    with app.app_context():
        current = app.extensions["authserver"].keystore.current_kid(clock.now())
        orphan = app.extensions["authserver"].keystore.rotate(clock.now(), immediate=True).kid
        db.session.rollback()
    assert (keys_dir / f"{orphan}.pem").exists()
    app = start()
    with app.app_context():
        services = app.extensions["authserver"]
        assert services.keystore.current_kid(clock.now()) == current
        assert states(services, clock.now())[orphan] == "retired"
    assert not (keys_dir / f"{orphan}.pem").exists()


@pytest.mark.parametrize(
    ("target", "mode", "fix"),
    [
        ("file", 0o640, "chmod 600"),
        ("file", 0o606, "chmod 600"),
        ("dir", 0o750, "chmod 700"),
        ("dir", 0o701, "chmod 700"),
    ],
)
def test_start_up_refuses_key_material_open_to_group_or_others(start, app_config, target, mode, fix):
    start()
    keys_dir = Path(app_config["AUTHSERVER_KEYS_DIR"])
    [key_file] = keys_dir.glob("*.pem")
    path = key_file if target == "file" else keys_dir
    path.chmod(mode)
    with pytest.raises(KeyStoreError) as raised:
        start()
    assert str(raised.value) == (f"{path} is accessible by group or others (mode {mode:o}); run `{fix} {path}`")


def test_an_empty_keys_directory_open_to_others_is_tightened_on_first_start(start, tmp_path):
    keys_dir = tmp_path / "checkout-keys"
    keys_dir.mkdir()
    keys_dir.chmod(0o755)
    start(AUTHSERVER_KEYS_DIR=str(keys_dir))
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700


def test_keys_list_reports_every_key_with_its_state_and_dates(app, services, clock):
    first = services.keystore.current_kid(clock.now())
    clock.advance(1)
    second = services.keystore.rotate(clock.now(), immediate=True)
    third = services.keystore.rotate(clock.now())
    services.keystore.revoke(first, OPERATOR, clock.now())
    db.session.commit()
    rows = {row["kid"]: row for row in services.keystore.list_keys(clock.now())}
    assert [rows[k]["state"] for k in (first, second.kid, third.kid)] == ["revoked", "active", "pending"]
    assert rows[first]["revoked_at"] == clock.now() and not rows[first]["published"]
    assert rows[second.kid]["signs_from"] == clock.now() and rows[second.kid]["retired_at"] == third.signs_from
    assert rows[third.kid]["signs_from"] == third.signs_from and rows[third.kid]["published"]
    assert rows[second.kid]["current"] and not rows[third.kid]["current"]
