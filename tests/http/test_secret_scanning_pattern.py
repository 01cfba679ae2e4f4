"""The pattern docs/secret-scanning.md gives scanners finds every token we mint, with each signing algorithm, and
exactly the token in surrounding text; which of its matches are ours is the server's verdict: a second instance of
this software mints tokens the pattern also finds, and those are ``false_positive``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from authserver import create_app
from authserver.clock import FrozenClock
from authserver.database import prepare
from authserver.extensions import db
from tests import factories
from tests.conftest import START
from tests.support.config import make_app_config
from tests.support.secret_scanner import ALERT_PATH, KeyServer, ScannerKey, alert_body, key_document

DOC = Path(__file__).resolve().parents[2] / "docs" / "secret-scanning.md"
SCANNER_KEY = ScannerKey()


def documented_pattern() -> re.Pattern[str]:
    text = DOC.read_text()
    block = text.split("<!-- secret-scanning-pattern -->", 1)[1]
    return re.compile(block.split("```", 2)[1].strip())


def minted(tmp: Path, database_url: str, alg: str, issuer: str, keys_url: str | None = None) -> tuple[list[str], Flask]:
    """A fresh instance and the tokens of its world (one per integration)."""
    overrides: dict = {"AUTHSERVER_SIGNING_ALG": alg, "AUTHSERVER_ISSUER": issuer}
    if keys_url:
        overrides["AUTHSERVER_SECRET_SCANNING_KEYS_URL"] = keys_url
    clock = FrozenClock(START)
    app = create_app(make_app_config(tmp, database_url, **overrides), clock=clock)
    prepare(app)
    with app.app_context():
        world = factories.make_world(app.extensions["authserver"], clock)
        tokens = [world.agency.token, world.sub.token, world.other.token]
    return tokens, app


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_the_documented_pattern_finds_our_tokens_and_the_verdict_tells_ours_from_another_instances(
    tmp_path, database_url, alg
):
    pattern = documented_pattern()
    with KeyServer(key_document(SCANNER_KEY)) as key_server:
        ours, app = minted(tmp_path / "ours", database_url, alg, "http://127.0.0.1:5000", key_server.url)
        theirs, _other = minted(
            tmp_path / "theirs", f"sqlite:///{tmp_path / 'theirs.db'}", alg, "http://127.0.0.1:5999"
        )
        for token in ours + theirs:
            assert pattern.fullmatch(token), (alg, token[:60])
        leaked_file = "\n".join(f'API_TOKEN="{token}"  # {index}' for index, token in enumerate(ours + theirs))
        found = [match.group(0) for match in pattern.finditer(leaked_file + "\nBearer eyJhbGciOiJub25lIn0.e30.")]
        assert found == ours + theirs

        body = alert_body(*found)
        with app.app_context():
            response = app.test_client().post(ALERT_PATH, data=body, headers=SCANNER_KEY.headers(body))
            db.session.remove()
            db.engine.dispose()
        assert response.status_code == 200
        assert [entry["label"] for entry in response.get_json()] == ["true_positive"] * 3 + ["false_positive"] * 3


def test_the_pattern_finds_nothing_in_other_jwts_and_lookalikes():
    pattern = documented_pattern()
    samples = [
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWc",
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWc",
        "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25h",
    ]
    assert not any(pattern.search(sample) for sample in samples)
