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


def test_every_advertised_endpoint_answers(shared):
    body = shared.client.get("/.well-known/oauth-authorization-server").get_json()
    issuer = body["issuer"]

    def path(url):
        assert url.startswith(issuer + "/")
        return url[len(issuer) :]

    assert shared.client.get(path(body["jwks_uri"])).status_code == 200
    assert shared.client.post(path(body["introspection_endpoint"])).status_code == 401  # exists; wants a client
    assert shared.client.post(path(body["revocation_endpoint"]), data={"token": "x"}).status_code == 200
    assert shared.client.get(path(body["admin_api_openapi"])).status_code == 200
    assert set(body["introspection_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}


def test_metadata_names_the_signing_algorithm_in_use(shared):
    body = shared.client.get("/.well-known/oauth-authorization-server").get_json()
    assert shared.app.config["AUTHSERVER_SIGNING_ALG"] in body["access_token_signing_alg_values_supported"]


def test_a_token_verifies_with_the_published_jwks_alone(shared):
    import jwt

    world = shared.world
    keys = {key["kid"]: key for key in shared.client.get("/.well-known/jwks.json").get_json()["keys"]}
    header = jwt.get_unverified_header(world.agency.token)
    jwk = jwt.PyJWK(keys[header["kid"]])
    claims = jwt.decode(
        world.agency.token,
        jwk.key,
        algorithms=[jwk.algorithm_name],
        audience=shared.app.config["AUTHSERVER_AUDIENCE"],
        issuer=shared.app.config["AUTHSERVER_ISSUER"],
        options={"verify_exp": False},
    )  # exp is on the test's frozen clock, not the wall clock
    assert claims["jti"] == world.agency.jti
