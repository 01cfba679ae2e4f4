"""RFC 8414 metadata and the JWKS, through the Flask test client."""

import os

from authserver.oauth.metadata import PrivateIntegrationMetadata


def test_metadata_issuer_equals_configured_issuer_exactly(client, app):
    body = client.get("/.well-known/oauth-authorization-server").get_json()
    assert body["issuer"] == app.config["AUTHSERVER_ISSUER"]
    assert body["introspection_endpoint"].endswith("/oauth/introspect")
    assert body["revocation_endpoint"].endswith("/oauth/revoke")


def test_metadata_passes_authlib_rfc8414_validation(client, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # loopback issuer is http in tests
    PrivateIntegrationMetadata(client.get("/.well-known/oauth-authorization-server").get_json()).validate()
    assert os.environ["AUTHLIB_INSECURE_TRANSPORT"] == "1"


def test_jwks_publishes_current_key_with_cache_headers(client, services):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]
    kids = [key["kid"] for key in response.get_json()["keys"]]
    assert kids == [services.keystore.current_kid()]
    assert all("d" not in key for key in response.get_json()["keys"])
