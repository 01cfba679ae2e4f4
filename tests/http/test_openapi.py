"""The OpenAPI document: valid OpenAPI 3.1, in step with the routes, and true to real responses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import authserver.admin_api

DOCUMENT_PATH = Path(authserver.admin_api.__file__).with_name("openapi.json")
DOCUMENT_URI = "urn:authserver:openapi"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOCUMENT_PATH.read_text())


def _documented_routes(document: dict) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method.upper() in METHODS
    }


def _served_routes(app) -> set[tuple[str, str]]:
    """Every route but static files and the admin UI's HTML pages, in OpenAPI's path syntax."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("admin_ui."):
            continue
        path = re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, method) for method in rule.methods & METHODS}
    return routes


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_served_document_is_valid_and_names_the_issuer(client, app):
    served = client.get("/api/openapi.json").get_json()
    validate(served)
    assert served["servers"] == [{"url": app.config["AUTHSERVER_ISSUER"]}]


def test_every_route_is_documented_and_every_documented_route_exists(app, document):
    served, documented = _served_routes(app), _documented_routes(document)
    assert sorted(served - documented) == [], "routes missing from openapi.json"
    assert sorted(documented - served) == [], "openapi.json documents routes the app does not serve"


def test_every_operation_documents_its_errors_and_security(document):
    schemes = set(document["components"]["securitySchemes"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() not in METHODS:
                continue
            assert "security" in operation, (method, path)
            for requirement in operation["security"]:
                assert set(requirement) <= schemes, (method, path)
            if operation["security"] and path != "/metrics":
                assert "default" in operation["responses"], (method, path)


# -- real responses against the document's schemas -------------------------------------------------------------
class Conformance:
    """Validates a test-client response against the schema the document gives for its path, method and status."""

    def __init__(self, document: dict) -> None:
        self.document = document
        resource = Resource(contents=document, specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)

    def _response(self, path: str, method: str, status: int) -> tuple[str, dict]:
        responses = self.document["paths"][path][method.lower()]["responses"]
        key = str(status) if str(status) in responses else "default"
        assert key in responses, f"{method} {path} does not document status {status}"
        pointer = f"/paths/{_escape(path)}/{method.lower()}/responses/{key}"
        response = responses[key]
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self.document["components"]["responses"][pointer.rsplit("/", 1)[1]]
        return pointer, response

    def check(self, response, path: str, method: str = "GET") -> None:
        pointer, documented = self._response(path, method, response.status_code)
        for header in documented.get("headers", {}):
            if header != "Cache-Control":
                assert header in response.headers, f"{method} {path}: {header} is documented but absent"
        if not documented.get("content"):
            assert not response.get_data(), f"{method} {path}: a body where none is documented"
            return
        media_type = response.mimetype
        assert media_type in documented["content"], f"{method} {path}: undocumented content type {media_type}"
        if not media_type.endswith("json"):
            return
        schema = {"$ref": f"{DOCUMENT_URI}#{pointer}/content/{_escape(media_type)}/schema"}
        validator = Draft202012Validator(
            schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(response.get_json()), key=lambda e: list(e.path))
        assert not errors, f"{method} {path} {response.status_code}: " + "; ".join(
            f"{list(e.path)}: {e.message}" for e in errors[:5]
        )


def _escape(token: str) -> str:
    return quote(token.replace("~", "~0").replace("/", "~1"), safe="~")


@pytest.fixture
def conformance(document) -> Conformance:
    return Conformance(document)


def test_discovery_responses_match_their_schemas(client, conformance):
    conformance.check(client.get("/.well-known/oauth-authorization-server"), "/.well-known/oauth-authorization-server")
    conformance.check(client.get("/.well-known/jwks.json"), "/.well-known/jwks.json")
    conformance.check(client.get("/healthz"), "/healthz")
    conformance.check(client.get("/readyz"), "/readyz")


def test_introspection_answers_match_their_schemas(client, world, conformance):
    path = "/oauth/introspect"
    active = client.post(path, data={"token": world.agency.token}, headers=world.rs_headers)
    assert active.get_json()["active"] is True
    conformance.check(active, path, "POST")
    inactive = client.post(path, data={"token": "not-a-token"}, headers=world.rs_headers)
    assert inactive.get_json() == {"active": False}
    conformance.check(inactive, path, "POST")
    conformance.check(client.post(path, data={"token": world.agency.token}), path, "POST")  # 401 invalid_client
    conformance.check(client.post(path, data={}, headers=world.rs_headers), path, "POST")  # 400 invalid_request


def test_resource_service_feed_and_usage_match_their_schemas(client, world, conformance):
    headers = world.rs_headers
    conformance.check(client.get("/oauth/events?after=0", headers=headers), "/oauth/events")
    conformance.check(client.get("/oauth/events/snapshot", headers=headers), "/oauth/events/snapshot")
    usage = client.post("/oauth/usage", json={"uses": [{"jti": world.agency.jti, "count": 3}]}, headers=headers)
    assert usage.status_code == 202
    conformance.check(usage, "/oauth/usage", "POST")
    conformance.check(client.post("/oauth/revoke", data={"token": world.other.token}), "/oauth/revoke", "POST")


def test_admin_api_lifecycle_responses_match_their_schemas(client, world, conformance):
    admin = world.agency.admin_headers
    account = world.agency.account_id
    conformance.check(client.get("/api/accounts", headers=admin), "/api/accounts")
    conformance.check(client.get(f"/api/accounts/{account}", headers=admin), "/api/accounts/{account_id}")
    conformance.check(client.get("/api/scopes", headers=admin), "/api/scopes")
    created = client.post(
        f"/api/accounts/{account}/integrations",
        headers=admin,
        json={"name": "Reporting", "scopes": ["contacts.readonly", "calendars.readonly"]},
    )
    assert created.status_code == 201
    conformance.check(created, "/api/accounts/{account_id}/integrations", "POST")
    integration = created.get_json()["id"]
    issued = client.post(f"/api/integrations/{integration}/tokens", headers=admin, json={"expires_in": "30d"})
    assert issued.status_code == 201
    conformance.check(issued, "/api/integrations/{integration_id}/tokens", "POST")
    rotated = client.post(f"/api/integrations/{integration}/rotate", headers=admin, json={"grace": "1d"})
    conformance.check(rotated, "/api/integrations/{integration_id}/rotate", "POST")
    conformance.check(
        client.get(f"/api/integrations/{integration}", headers=admin), "/api/integrations/{integration_id}"
    )
    conformance.check(
        client.get(f"/api/integrations/{integration}/tokens", headers=admin),
        "/api/integrations/{integration_id}/tokens",
    )
    conformance.check(
        client.get(f"/api/integrations/{integration}/activity?days=3", headers=admin),
        "/api/integrations/{integration_id}/activity",
    )
    conformance.check(
        client.get(f"/api/accounts/{account}/audit?limit=5", headers=admin), "/api/accounts/{account_id}/audit"
    )
    conformance.check(
        client.delete(f"/api/integrations/{integration}", headers=admin), "/api/integrations/{integration_id}", "DELETE"
    )


def test_admin_api_errors_are_documented_problems(client, world, conformance):
    admin = world.agency.admin_headers
    unauthenticated = client.get("/api/accounts")
    assert unauthenticated.status_code == 401
    conformance.check(unauthenticated, "/api/accounts")
    missing = client.get(f"/api/accounts/{world.other.account_id}", headers=admin)  # another tenant's
    assert missing.status_code == 404
    conformance.check(missing, "/api/accounts/{account_id}")
    invalid = client.post(
        f"/api/accounts/{world.agency.account_id}/integrations",
        headers=admin,
        json={"name": "x", "scopes": ["no.such"]},
    )
    assert invalid.status_code == 400
    conformance.check(invalid, "/api/accounts/{account_id}/integrations", "POST")
    conflict = client.post(f"/api/integrations/{world.agency.integration_id}/tokens", headers=admin, json={})
    assert conflict.status_code == 409
    conformance.check(conflict, "/api/integrations/{integration_id}/tokens", "POST")
