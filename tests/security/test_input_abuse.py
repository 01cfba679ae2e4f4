"""Bad input at every edge of the admin API and the protocol surface: malformed and hostile bodies, headers,
query strings and paths. The answer is always a clear 4xx, never a 500, and never a reflection of the input."""

from __future__ import annotations

import csv
import io

import pytest
import requests

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def integration(target) -> dict:
    return target.agency.create_integration()


def assert_problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["request_id"]
    assert "Traceback" not in response.text
    return body


BODIES = {
    "array": "[]",
    "string": '"name"',
    "number": "42",
    "null": "null",
    "invalid_json": "{'name': 'x'}",
    "truncated": '{"name": "x", "scopes": [',
    "deeply_nested_arrays": "[" * 100_000 + "]" * 100_000,
    "deeply_nested_objects": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "huge_integer": '{"name": "x", "scopes": ["contacts.readonly"], "inactivity_window": 1' + "0" * 5000 + "}",
    "nan": '{"name": "x", "scopes": ["contacts.readonly"], "inactivity_window": NaN}',
    "lone_surrogate": '{"name": "\\ud800", "scopes": ["contacts.readonly"]}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_hostile_json_bodies_are_400_not_500(target, body):
    response = target.agency.request(
        "POST", f"/accounts/{target.agency.account_id}/integrations", data=body, headers=JSON
    )
    assert_problem(response, 400)


def test_deeply_nested_usage_report_is_400_not_500(target):
    response = requests.post(
        f"{target.url}/oauth/usage",
        data="[" * 100_000 + "]" * 100_000,
        headers=JSON,
        auth=target.resource_service,
        timeout=30,
    )
    assert response.status_code == 400, response.text


NAMES = {
    "control_characters": "evil\u0000name",
    "escape_sequence": "\u001b[31mred",
    "too_long": "n" * 201,
    "blank": "   ",
    "not_a_string": 12345,
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_bad_names_are_400_naming_the_field(target, name):
    response = target.agency.request(
        "POST",
        f"/accounts/{target.agency.account_id}/integrations",
        json={"name": name, "scopes": ["contacts.readonly"]},
    )
    assert assert_problem(response, 400)["errors"][0]["field"] == "name"


@pytest.mark.parametrize("value", ['W/"\u00b2"', "9" * 40, '"-1"', "*", '"3", "4"'])
def test_malformed_if_match_is_400(target, integration, value):
    response = target.agency.request(
        "PATCH", f"/integrations/{integration['id']}", json={"name": "y"}, headers={"If-Match": value}
    )
    assert assert_problem(response, 400)["errors"][0]["field"] == "If-Match"


QUERIES = {
    "before_id_overflows_the_database": {"before_id": "9" * 30},
    "limit_overflows": {"limit": "9" * 30},
    "negative_limit": {"limit": "-1"},
    "superscript_digit": {"before_id": "\u00b2"},
    "since_not_a_date": {"since": "yesterday"},
    "until_out_of_range": {"until": "99999-01-01T00:00:00Z"},
}


@pytest.mark.parametrize("params", QUERIES.values(), ids=QUERIES.keys())
def test_bad_audit_query_parameters_are_400(target, params):
    assert_problem(target.agency.request("GET", f"/accounts/{target.agency.account_id}/audit", params=params), 400)


@pytest.mark.parametrize("days", ["0", "401", "-3", "abc", "\u00b2", "9" * 30])
def test_bad_activity_window_is_400(target, integration, days):
    response = target.agency.request("GET", f"/integrations/{integration['id']}/activity", params={"days": days})
    assert_problem(response, 400)


@pytest.mark.parametrize("wait", ["-1", "26", "nan", "inf", "1e400"])
def test_bad_event_feed_wait_is_400(target, wait):
    response = requests.get(
        f"{target.url}/oauth/events", params={"wait": wait}, auth=target.resource_service, timeout=30
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "path",
    [
        "/integrations/..%2F..%2Fetc%2Fpasswd",
        "/integrations/%00",
        "/integrations/%E2%80%AE",
        "/accounts/' OR '1'='1",
        "/integrations/" + "i" * 5000,
    ],
)
def test_hostile_ids_in_the_path_are_404(target, path):
    assert_problem(target.agency.request("GET", path), 404)


def test_audit_csv_export_cannot_carry_a_spreadsheet_formula(target):
    formula = '=HYPERLINK("https://evil.example","click")'
    created = target.agency.request(
        "POST",
        f"/accounts/{target.agency.account_id}/integrations",
        json={"name": formula, "description": "@SUM(1+1)", "scopes": ["contacts.readonly"]},
    )
    assert created.status_code == 201
    response = target.agency.request("GET", f"/accounts/{target.agency.account_id}/audit", params={"format": "csv"})
    assert response.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(response.text)) for cell in row]
    assert any(formula.replace('"', '\\"') in cell for cell in cells)  # present, inside a JSON cell
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_http_method_override_headers_are_ignored(target, integration):
    for header in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        response = target.agency.request("GET", f"/integrations/{integration['id']}", headers={header: "DELETE"})
        assert response.status_code == 200
    assert target.agency.request("GET", f"/integrations/{integration['id']}").json()["status"] == "active"


def test_host_header_does_not_change_the_issuer_or_advertised_endpoints(target):
    honest = requests.get(f"{target.url}/.well-known/oauth-authorization-server", timeout=30).json()
    spoofed = requests.get(
        f"{target.url}/.well-known/oauth-authorization-server",
        timeout=30,
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    ).json()
    assert spoofed == honest and "evil" not in str(spoofed)
    servers = requests.get(f"{target.url}/api/openapi.json", headers={"Host": "evil.example"}, timeout=30).json()
    assert "evil" not in str(servers.get("servers"))


def test_cross_origin_requests_get_no_cors_permission(target):
    preflight = requests.options(
        f"{target.url}/api/accounts",
        timeout=30,
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    actual = target.agency.request("GET", "/accounts", headers={"Origin": "https://evil.example"})
    for response in (preflight, actual):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    "path",
    ["/api/accounts", "/oauth/introspect", "/.well-known/jwks.json", "/healthz", "/api/no-such-route", "/no-such-page"],
)
def test_every_response_carries_the_security_headers(target, path):
    response = requests.get(f"{target.url}{path}", timeout=30)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Traceback" not in response.text


def test_trace_method_is_refused(target):
    for path in ("/api/accounts", "/oauth/introspect", "/"):
        assert requests.request("TRACE", f"{target.url}{path}", timeout=30).status_code == 405


@pytest.mark.parametrize("incoming", ["x" * 65, "<script>alert(1)</script>", "id with spaces\u2028", ""])
def test_request_id_header_cannot_inject_into_logs_or_pages(target, incoming):
    response = requests.get(
        f"{target.url}/api/no-such-route", headers={"X-Request-Id": incoming.encode("utf-8")}, timeout=30
    )
    assigned = response.headers["X-Request-Id"]
    if len(incoming) > 64 or not incoming or not incoming.isprintable():
        assert assigned != incoming and len(assigned) == 16
    assert "<script>" not in response.text or response.headers["Content-Type"] == "application/problem+json"


def test_token_response_is_never_cacheable(target, integration):
    issued = target.agency.request("POST", f"/integrations/{integration['id']}/tokens", json={})
    assert issued.status_code == 201
    assert issued.headers["Cache-Control"] == "no-store"
    assert target.introspect(issued.json()["token"]).headers["Cache-Control"] == "no-store"
