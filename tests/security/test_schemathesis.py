"""Fuzzing every HTTP endpoint from the server's own OpenAPI document (``/api/openapi.json``), against a live
server: schemathesis generates requests from the schema and the server must answer every one without a 5xx,
with a documented status code and content type, and with a body that matches the documented schema.

Requests carry valid credentials for their surface (an admin client on the admin API and revocation, a resource
service on introspection and the feed), and real ids some of the time, so the fuzzing reaches past the 401s
and 404s. The number of examples is bounded to keep the run under two minutes.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

import authserver
from tests.factories import basic
from tests.support.servers import make_authserver

from .conftest import Admin, run_cli, start_together

EXAMPLES = 10
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    server = make_authserver(
        tmp_path_factory.mktemp("fuzz"), AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1", AUTHSERVER_WEBHOOK_ALLOW_HTTP="on"
    )
    account, sub, admin, service, integration, token, v1key = run_cli(
        server,
        (["account", "create", "--name", "Fuzzed", "--json"], None),
        (["account", "create", "--name", "Fuzzed sub", "--parent", "{0[id]}", "--json"], None),
        (["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
        (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
        (
            [
                "integration",
                "create",
                "--account",
                "{0[id]}",
                "--name",
                "fuzzed",
                "--scope",
                "contacts.readonly",
                "--json",
            ],
            None,
        ),
        (["token", "generate", "{4[id]}", "--json"], None),
        (["v1-key", "create", "--account", "{0[id]}", "--json"], None),
    )
    start_together(server)
    admin_api = Admin(server, admin["client_id"], admin["client_secret"], account["id"])
    webhook = admin_api.request(
        "POST",
        f"/accounts/{account['id']}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["token.revoked"]},
    ).json()
    try:
        yield {
            "server": server,
            "admin": basic(admin["client_id"], admin["client_secret"]),
            "service": basic(service["client_id"], service["client_secret"]),
            "ids": {
                "account_id": [account["id"], sub["id"]],
                "integration_id": [integration["id"]],
                "subscription_id": [webhook["id"]],
                "key_id": [v1key["id"]],
            },
            "token": token["token"],
        }
    finally:
        with contextlib.suppress(Exception):
            server.stop()


# The document the server serves at /api/openapi.json (it only adds ``servers``). Loaded from the package rather
# than through a fixture: schemathesis' fixture loader does not run under pytest 9.
DOCUMENT = json.loads((Path(authserver.__file__).parent / "admin_api" / "openapi.json").read_text())
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_fuzzed_document_is_the_one_the_server_serves(fuzz_target):
    served = requests.get(f"{fuzz_target['server'].url}/api/openapi.json", timeout=30).json()
    assert {k: v for k, v in served.items() if k != "servers"} == {k: v for k, v in DOCUMENT.items() if k != "servers"}


def credentials(fuzz_target, path: str) -> dict:
    if path.startswith("/oauth/") and path != "/oauth/revoke":
        return fuzz_target["service"]
    return fuzz_target["admin"]


# One pytest item per operation, each with its own id: schemathesis' own ``parametrize`` gives every operation the
# same node id, and pytest-xdist then runs only one of them.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.label for operation in OPERATIONS])
def test_every_endpoint_answers_generated_requests_without_5xx_and_as_documented(operation, fuzz_target):
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy())
    def fuzz(case):
        for name, value in list((case.path_parameters or {}).items()):
            real = fuzz_target["ids"].get(name)
            if real and isinstance(value, str) and len(value) % 2 == 0:  # about half the examples name a real one
                case.path_parameters[name] = real[len(value) % len(real)]
        if isinstance(case.body, dict) and "token" in case.body and len(str(case.body["token"])) % 2 == 0:
            case.body["token"] = fuzz_target["token"]
        case.call_and_validate(
            base_url=fuzz_target["server"].url,
            checks=CHECKS,
            headers={**dict(case.headers or {}), **credentials(fuzz_target, case.path)},
            timeout=30,
        )

    fuzz()
