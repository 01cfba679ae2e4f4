"""Start-up settings for the serving environment: trusted proxies (TLS-terminating), the access log mode."""

from __future__ import annotations

import pytest

from authserver import create_app
from authserver.config import ConfigError
from authserver.extensions import db

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "auth.example.com", "X-Forwarded-For": "203.0.113.9"}


def _introspect(client, world, **headers):
    return client.post(
        "/oauth/introspect",
        data={"token": world.agency.token},
        base_url="http://10.0.0.5:8000",
        headers={**world.rs_headers, **headers},
    )


def test_without_declared_proxies_forwarded_headers_are_ignored_and_plain_http_is_refused(client, world):
    response = _introspect(client, world, **FORWARDED)
    assert response.status_code == 400 and response.get_json()["error"] == "insecure_transport"


def test_a_declared_proxy_forwarding_https_is_believed(app_config, clock, world, tmp_path):
    proxied = create_app(app_config | {"AUTHSERVER_TRUSTED_PROXIES": "1", "INSTANCE_PATH": tmp_path / "p"}, clock=clock)
    try:
        client = proxied.test_client()
        answer = _introspect(client, world, **FORWARDED)
        assert answer.status_code == 200 and answer.get_json()["active"] is True
        # The proxy said the caller used plain HTTP: refused, as without a proxy.
        plain = _introspect(client, world, **{**FORWARDED, "X-Forwarded-Proto": "http"})
        assert plain.status_code == 400 and plain.get_json()["error"] == "insecure_transport"
        # The revocation endpoint (served through Flask) sees the same.
        revoked = client.post(
            "/oauth/revoke", data={"token": world.agency.token}, base_url="http://10.0.0.5:8000", headers=FORWARDED
        )
        assert revoked.status_code == 200
        assert _introspect(client, world, **FORWARDED).get_json() == {"active": False}
    finally:
        with proxied.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("value", ["-1", "6", "one", ""])
def test_a_bad_proxy_count_stops_start_up(app_config, value):
    with pytest.raises(ConfigError, match="AUTHSERVER_TRUSTED_PROXIES"):
        create_app(app_config | {"AUTHSERVER_TRUSTED_PROXIES": value})


@pytest.mark.parametrize("value", ["verbose", "ON", ""])
def test_an_unknown_access_log_mode_stops_start_up(app_config, value):
    with pytest.raises(ConfigError, match="AUTHSERVER_ACCESS_LOG"):
        create_app(app_config | {"AUTHSERVER_ACCESS_LOG": value})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("AUTHSERVER_MAX_TOKEN_LIFETIME", 10**30),
        ("AUTHSERVER_MAX_TOKEN_LIFETIME", 50 * 365 * 86400 + 1),
        ("AUTHSERVER_DEFAULT_TOKEN_LIFETIME", 0),
        ("AUTHSERVER_DEFAULT_TOKEN_LIFETIME", -60),
    ],
)
def test_a_token_lifetime_beyond_the_longest_duration_stops_start_up(app_config, key, value):
    with pytest.raises(ConfigError, match=key):
        create_app(app_config | {key: value})
