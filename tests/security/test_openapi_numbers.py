"""Every number the server takes, from its own OpenAPI document, fed hostile values on real servers (issue 13,
section 4): huge, negative, fractional, non-finite and textual numbers in every integer or number field of every
operation (JSON and form bodies, query parameters, If-Match), and in every digits-only text parameter: a fixed list
of edges (32- and 64-bit limits, the longest duration and one past it, 10^400, NaN, numbers as text) on every
input, then Hypothesis' own values. No answer is a 5xx; on the admin API a refusal is a 400 problem naming the
field.

The fields are found by walking ``/api/openapi.json`` as the server serves it, so an operation added to the
document (with a number in it) is fuzzed without touching this file.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import authserver
from authserver.durations import MAX_SECONDS
from tests.conftest import BACKENDS
from tests.factories import basic
from tests.support.databases import ThrowawayPostgres, postgres_available
from tests.support.servers import make_authserver

from .conftest import remember_response, run_cli, start_together

EXAMPLES = 8
TIMEOUT = 30
DOCUMENT = json.loads((Path(authserver.__file__).parent / "admin_api" / "openapi.json").read_text())
_DIGITS = "^[0-9]+$"


# -- where the numbers are ------------------------------------------------------------------------------------
def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        node = DOCUMENT
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def is_numeric(schema: dict) -> bool:
    """An integer or number (alone or among alternatives), or text that must be digits."""
    schema = resolve(schema)
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds or "number" in kinds:
        return True
    if schema.get("pattern") == _DIGITS or "[0-9]{1,12}" in schema.get("pattern", ""):
        return True
    return any(is_numeric(option) for key in ("anyOf", "oneOf", "allOf") for option in schema.get(key, []))


def filler(name: str, schema: dict):
    """A valid value for a required field that is not the one being fuzzed."""
    schema = resolve(schema)
    known = {
        "name": "fuzzed",
        "scopes": ["contacts.readonly"],
        "jti": "tok_fuzzed",
        "token": "not-a-token",
        "key": "v1-not-a-key",
        "route": "GET /v1/contacts",
    }
    if name in known:
        return known[name]
    if "enum" in schema:
        return schema["enum"][0]
    return "fuzzed"


@dataclass(frozen=True)
class Target:
    """One numeric input of one operation: where it goes and how to build the rest of the request around it."""

    method: str
    path: str
    where: str  # "query", "header", "json" or "form"
    name: str
    template: tuple = ()  # (container path...) for a field nested in arrays: ("uses", 0)
    required: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path} {self.where}:{'.'.join(map(str, (*self.template, self.name)))}"


def body_targets(method: str, path: str, where: str, schema: dict, prefix: tuple = ()) -> list[Target]:
    schema = resolve(schema)
    found = []
    properties = schema.get("properties", {})
    required = {name: filler(name, properties.get(name, {})) for name in schema.get("required", [])}
    for name, sub in properties.items():
        sub = resolve(sub)
        if is_numeric(sub):
            found.append(Target(method, path, where, name, prefix, {k: v for k, v in required.items() if k != name}))
        items = resolve(sub.get("items", {})) if sub.get("type") == "array" else {}
        if items.get("type") == "object":
            found += body_targets(method, path, where, items, (*prefix, name, 0))
    return found


def numeric_targets() -> list[Target]:
    found = []
    for path, operations in DOCUMENT["paths"].items():
        shared = operations.get("parameters", [])
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for parameter in (resolve(p) for p in [*shared, *operation.get("parameters", [])]):
                if parameter["in"] in ("query", "header") and is_numeric(parameter.get("schema", {})):
                    found.append(Target(method.upper(), path, parameter["in"], parameter["name"]))
            for content_type, content in operation.get("requestBody", {}).get("content", {}).items():
                where = "json" if content_type == "application/json" else "form"
                found += body_targets(method.upper(), path, where, content["schema"])
    return found


TARGETS = numeric_targets()


def test_the_fuzzed_inputs_cover_every_duration_window_and_counter():
    """Guards against the walk silently finding nothing (a renamed schema, a moved Duration)."""
    labels = {target.label for target in TARGETS}
    for expected in (
        "PATCH /api/accounts/{account_id} json:max_token_lifetime",
        "POST /api/accounts/{account_id}/integrations json:inactivity_window",
        "PATCH /api/integrations/{integration_id} json:inactivity_window",
        "POST /api/integrations/{integration_id}/rotate json:grace",
        "POST /api/integrations/{integration_id}/expire json:in",
        "POST /api/integrations/{integration_id}/tokens json:expires_in",
        "POST /api/v1-keys/{key_id}/migrate json:overlap",
        "GET /api/accounts/{account_id}/audit query:before_id",
        "GET /api/integrations/{integration_id}/activity query:days",
        "GET /oauth/events query:after",
        "POST /oauth/usage json:uses.0.count",
        "DELETE /api/integrations/{integration_id} header:If-Match",
    ):
        assert expected in labels


def test_the_documented_duration_bound_is_the_one_the_server_holds():
    duration = resolve({"$ref": "#/components/schemas/Duration"})
    assert [option.get("maximum") for option in duration["oneOf"] if option["type"] == "integer"] == [MAX_SECONDS]


# -- hostile numbers ------------------------------------------------------------------------------------------
EDGES = [
    0,
    -1,
    1,
    MAX_SECONDS,
    MAX_SECONDS + 1,
    2**31 - 1,
    2**31,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**15,
    10**30,
    10**400,
]
TEXTS = [
    "1e400",
    "-0",
    "0x10",
    "1_000",
    "\u0661\u0662",
    "9" * 400,
    "NaN",
    "Infinity",
    "-Infinity",
    " 5",
    "+5",
    "1.5",
    "",
    "5s",
    "999999999w",
    "00000000000000000001",
    "\u00b2",
    "1" + "0" * 30 + "s",
]
ALWAYS = [*EDGES, *TEXTS, 1.5, -0.5, 1e300, float("nan"), float("inf"), float("-inf"), True, None, [3600], {}]
HOSTILE = st.one_of(
    st.sampled_from(EDGES),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),  # NaN and the infinities included: JSON gets them as NaN / Infinity literals
    st.sampled_from(TEXTS),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=False).map(repr),
)


# -- the servers ----------------------------------------------------------------------------------------------
@dataclass
class Live:
    url: str
    admin: dict
    service: dict
    ids: dict
    token: str
    fresh: dict = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)  # kept-alive connections: ~3x faster

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        credentials = self.service if path.startswith("/oauth/") and path != "/oauth/revoke" else self.admin
        headers = credentials | kwargs.pop("headers", {})
        return remember_response(
            self.session.request(method, self.url + path, headers=headers, timeout=TIMEOUT, **kwargs)
        )

    def path_for(self, target: Target) -> str:
        """The path with real ids; an operation that can end its target (delete, disable, migrate) gets one of its
        own, so a hostile value that happens to succeed does not leave the others a 404."""
        ids = dict(self.ids)
        if "{integration_id}" in target.path:
            ids["integration_id"] = self.integration_for(target.label)
        return target.path.format(**ids)

    def integration_for(self, label: str) -> str:
        if label not in self.fresh:
            created = self.call(
                "POST",
                f"/api/accounts/{self.ids['account_id']}/integrations",
                json={"name": "fuzzed", "scopes": ["contacts.readonly"]},
            )
            assert created.status_code == 201, created.text
            assert self.call("POST", f"/api/integrations/{created.json()['id']}/tokens", json={}).status_code == 201
            self.fresh[label] = created.json()["id"]
        return self.fresh[label]


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    database, extra = None, {}
    if request.param == "postgresql":
        if not postgres_available():
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
        database = ThrowawayPostgres()
        extra["DATABASE_URL"] = database.url
    server = make_authserver(
        tmp_path_factory.mktemp(f"numbers-{request.param}"),
        AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        AUTHSERVER_WEBHOOK_ALLOW_HTTP="on",
        **extra,
    )
    try:
        account, admin, service, spare, integration, token, v1key = run_cli(
            server,
            (["account", "create", "--name", "Numbers", "--json"], None),
            (["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
            (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
            (["client", "create", "--name", "spare", "--kind", "resource-service", "--json"], None),
            (
                [
                    "integration",
                    "create",
                    "--account",
                    "{0[id]}",
                    "--name",
                    "numbers",
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
        admin_headers = basic(admin["client_id"], admin["client_secret"])
        webhook = requests.post(
            f"{server.url}/api/accounts/{account['id']}/webhooks",
            headers=admin_headers,
            json={"url": "http://127.0.0.1:9/hook", "events": ["token.revoked"]},
            timeout=TIMEOUT,
        )
        assert webhook.status_code == 201, webhook.text
        live = Live(
            url=server.url,
            admin=admin_headers,
            service=basic(service["client_id"], service["client_secret"]),
            ids={
                "account_id": account["id"],
                "integration_id": integration["id"],
                "key_id": v1key["id"],
                "client_id": spare["client_id"],
                "subscription_id": webhook.json()["id"],
                "delivery_id": "whd_none",
            },
            token=token["token"],
        )
        with live.session:
            yield live
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        if database is not None:
            database.drop()


def send(live: Live, target: Target, value) -> requests.Response:
    path, kwargs = live.path_for(target), {}
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    if target.where == "query":
        kwargs["params"] = {target.name: text}
    elif target.where == "header":
        # As UTF-8 bytes, stripped: a header value cannot start or end with blanks on the wire.
        kwargs["headers"] = {target.name: text.strip().encode()}
    elif target.where == "form":
        kwargs["data"] = {**target.required, "token": live.token, target.name: text}
    else:
        body: dict = dict(target.required)
        holder = body
        for step, nxt in zip(target.template[::2], target.template[1::2], strict=True):
            item: dict = {}
            holder[step] = [item] if nxt == 0 else []
            holder = item
            if step == "uses":
                item["jti"] = "tok_fuzzed"
        holder[target.name] = value
        if target.path.endswith("/rotate") and target.name in ("grace", "expires_in"):
            body.setdefault("mode", "later" if target.name == "grace" else "now")
        kwargs["data"] = json.dumps(body)  # NaN and Infinity go out as the literals some clients send
        kwargs["headers"] = {"Content-Type": "application/json"}
    return live.call(target.method, path, **kwargs)


@pytest.mark.parametrize("target", TARGETS, ids=[target.label for target in TARGETS])
def test_hostile_numbers_in_every_numeric_input_never_get_a_5xx(live, target):
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(value=HOSTILE)
    def fuzz(value):
        response = send(live, target, value)
        assert response.status_code < 500, (target.label, value, response.status_code, response.text[:300])
        assert "Traceback" not in response.text
        if response.status_code == 400 and target.path.startswith("/api/"):
            problem = response.json()
            assert response.headers["Content-Type"] == "application/problem+json"
            if target.where in ("json", "query"):  # the refusal names the field it refused
                assert [error["field"] for error in problem.get("errors", [])] == [target.name], (
                    target.label,
                    value,
                    problem,
                )

    for value in ALWAYS:  # every edge on every input, then Hypothesis' own choices
        fuzz = example(value=value)(fuzz)
    fuzz()
