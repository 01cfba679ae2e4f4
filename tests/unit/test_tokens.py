"""RFC 9068 access tokens: what a minted token says, what the verifier accepts, and what is never stored."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AccessToken
from tests.factories import make_account, make_integration


@pytest.fixture
def minted(app, services, clock, lifecycle):
    account = make_account(clock)
    integration = make_integration(clock, account.id, scopes=["contacts.write", "contacts.readonly"])
    issued = lifecycle.generate(integration.id, expires_in=3600)
    return account, integration, issued


def test_a_token_carries_the_rfc9068_header_and_claims(minted, app, services, clock):
    account, integration, issued = minted
    header = jwt.get_unverified_header(issued.token)
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert header["typ"] == "at+jwt"
    assert header["kid"] == services.keystore.current_kid() == issued.record.kid
    assert header["alg"] == app.config["AUTHSERVER_SIGNING_ALG"]
    assert claims == {
        "iss": app.config["AUTHSERVER_ISSUER"],
        "sub": integration.id,
        "aud": app.config["AUTHSERVER_AUDIENCE"],
        "client_id": integration.id,
        "scope": "contacts.readonly contacts.write",
        "jti": issued.record.jti,
        "iat": int(clock.now().timestamp()),  # the domain's clock, not the wall clock
        "exp": int((clock.now() + timedelta(hours=1)).timestamp()),
        "account_id": account.id,
    }


def test_the_record_matches_the_token_by_jti_and_times(minted, clock):
    _, integration, issued = minted
    row = db.session.get(AccessToken, issued.record.jti)
    assert row.integration_id == integration.id
    assert row.issued_at == clock.now() and row.expires_at == clock.now() + timedelta(hours=1)
    assert row.scopes == "contacts.readonly contacts.write"
    assert row.revoked_at is None and row.ends_at is None and row.replaced_by is None


def test_each_token_gets_its_own_jti(app, clock, lifecycle):
    integration = make_integration(clock, make_account(clock).id)
    jtis = {lifecycle.generate(integration.id).record.jti}
    for _ in range(3):
        jtis.add(lifecycle.rotate_now(integration.id).record.jti)
    assert len(jtis) == 4


def _database_dump(app) -> str:
    """Every row of every table, plus (SQLite) the raw bytes of the database file and its WAL."""
    parts = []
    for table in db.metadata.sorted_tables:
        parts.extend(repr(tuple(row)) for row in db.session.execute(select(table)))
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as connection:
            parts.extend(connection.iterdump())
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                parts.append(file.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_nothing_that_could_rebuild_a_token_is_stored(minted, app, lifecycle):
    _, integration, issued = minted
    rotated = lifecycle.rotate_with_grace(integration.id)
    dump = _database_dump(app)
    assert issued.record.jti in dump  # the dump does see the token's record ...
    for token in (issued.token, rotated.token):
        header, payload, signature = token.split(".")
        assert token not in dump  # ... but never the token,
        assert signature not in dump  # nor its signature,
        assert payload not in dump  # nor its encoded claims.
    assert "PRIVATE KEY" not in dump


def test_the_verifier_accepts_its_own_tokens_and_returns_their_claims(minted, services):
    _, integration, issued = minted
    claims = services.verifier.verify(issued.token)
    assert (claims.jti, claims.sub, claims.client_id) == (issued.record.jti, integration.id, integration.id)
    assert claims.scope == "contacts.readonly contacts.write"


DAMAGE = {
    "appended": lambda token: token + "x",
    "truncated": lambda token: token[:-2],
    "extra-dot": lambda token: token.replace(".", "..", 1),
    "leading-space": lambda token: " " + token,
    "no-header": lambda token: token.split(".", 1)[1],
    "non-ascii": lambda token: token + "é",
    "oversized": lambda token: token + "A" * 9000,
    "none": lambda token: None,
    "number": lambda token: 12345,
    "empty": lambda token: "",
}


def test_the_verifier_refuses_anything_but_the_exact_token_without_raising(minted, services):
    _, _, issued = minted
    accepted = [name for name, damage in DAMAGE.items() if services.verifier.verify(damage(issued.token))]
    assert accepted == []
