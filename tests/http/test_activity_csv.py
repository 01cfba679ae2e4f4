"""Activity means API calls: the integration page and its CSV count the calls resource services reported, per
service and per day; introspections are not calls. The CSV is safe to open in a spreadsheet and tenant-bound."""

from __future__ import annotations

import csv
import io
import re

import pytest

from authserver.activity import flush
from authserver.activity.calls import safe_cell
from tests.factories import basic, make_client
from tests.http.problems import assert_problem
from tests.support.admin_ui import ADMIN, add_people, detail_path, introspect, signed_in

DAY = 86400


def report(client, headers, jti, scopes: dict[str, int], at=None, introspected=0):
    use = {"jti": jti, "count": sum(scopes.values()), "scopes": scopes, "introspected": introspected}
    if at is not None:
        use["last_used_at"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.post("/oauth/usage", json={"uses": [use]}, headers=headers)
    assert response.status_code == 202 and response.get_json() == {"accepted": 1}, response.text


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def admin(app, world, clock):
    add_people(world, clock, member=False)
    return signed_in(app, ADMIN)


@pytest.fixture
def two_services(client, world, clock):
    """contacts-service reports 5 calls two days ago and 3 today; calendar-service 2 calls today."""
    calendars = make_client(clock, kind="resource-service", name="calendar-service")
    jti = world.agency.jti
    report(client, world.rs_headers, jti, {"contacts.readonly": 4, "": 1}, at=clock.now().replace(day=13))
    report(client, world.rs_headers, jti, {"contacts.readonly": 3}, introspected=3)
    report(client, basic(*calendars), jti, {"": 2})
    return calendars[0]


def test_token_checks_are_not_calls_but_still_a_use(client, admin, world, services):
    for _ in range(4):
        introspect(client, world, world.agency.token)
    flush(services.activity)
    page = admin.get(detail_path(world.agency)).text
    assert '<dd id="usage-total">0</dd>' in page
    assert '<dd id="last-used-by">contacts-service</dd>' in page  # a check still moves "last used"
    assert 'id="usage-none"' in page


def test_the_page_counts_reported_calls_per_service_and_day(admin, world, two_services):
    page = admin.get(detail_path(world.agency)).text
    assert '<dd id="usage-total">10</dd>' in page
    assert '<dd id="usage-services">2</dd>' in page
    bars = re.findall(r'<rect class="bar[^"]*"[^>]*data-day="([\d-]+)" data-count="(\d+)"', page)
    assert len(bars) == 30
    assert bars[-1] == ("2026-01-15", "5") and bars[-3] == ("2026-01-13", "5") and bars[-2][1] == "0"
    segments = re.findall(
        r'<rect class="segment"[^>]*data-day="2026-01-15" data-service="([^"]+)" data-count="(\d+)"', page
    )
    assert segments == [("contacts-service", "3"), ("calendar-service", "2")]
    table = re.search(r'<table class="table" id="usage-by-service">.*?</table>', page, re.S).group(0)
    assert re.findall(r'data-calls="(\d+)"', table) == ["8", "2"]
    assert '<code class="small">contacts.readonly</code>' in table and "a valid token was enough" in table


def test_ui_csv_has_a_row_per_day_and_service_and_a_filename(admin, world, two_services):
    response = admin.get(f"{detail_path(world.agency)}/activity.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="activity-{world.agency.integration_id}-2025-12-17-to-2026-01-15.csv"'
    )
    service_id = world.resource_service[0]
    rows = rows_of(response.text)
    assert rows[0] == ["date", "service", "service_id", "calls", "scopes_used"]
    assert rows[1] == ["2026-01-13", "contacts-service", service_id, "5", "contacts.readonly"]
    assert sorted(rows[2:]) == sorted(
        [
            ["2026-01-15", "contacts-service", service_id, "3", "contacts.readonly"],
            ["2026-01-15", "calendar-service", two_services, "2", ""],
        ]
    )


def test_api_csv_matches_the_ui_and_takes_a_window(client, admin, world, two_services):
    ui = admin.get(f"{detail_path(world.agency)}/activity.csv").text
    api = client.get(
        f"/api/integrations/{world.agency.integration_id}/activity.csv", headers=world.agency.admin_headers
    )
    assert api.status_code == 200 and api.mimetype == "text/csv"
    assert api.headers["Content-Disposition"].startswith("attachment; filename=")
    assert api.text == ui
    one_day = client.get(
        f"/api/integrations/{world.agency.integration_id}/activity.csv?days=1", headers=world.agency.admin_headers
    )
    assert [row[0] for row in rows_of(one_day.text)[1:]] == ["2026-01-15", "2026-01-15"]


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.test","x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_a_cell_a_spreadsheet_would_run_as_a_formula_starts_with_a_quote(client, admin, world, clock, name):
    evil = basic(*make_client(clock, kind="resource-service", name=name))
    report(client, evil, world.agency.jti, {"contacts.readonly": 1})
    rows = rows_of(admin.get(f"{detail_path(world.agency)}/activity.csv").text)
    assert rows[1][1] == "'" + name


@pytest.mark.parametrize(
    ("value", "shown"),
    [("=1+1", "'=1+1"), ("\tcmd", "'\tcmd"), ("\rx", "'\rx"), ("contacts-service", "contacts-service"), ("", "")],
)
def test_safe_cell(value, shown):
    assert safe_cell(value) == shown


def test_another_tenants_activity_is_not_found(client, admin, world, two_services):
    other_ui = f"/accounts/{world.other.account_id}/settings/integrations/{world.other.integration_id}/activity.csv"
    assert admin.get(other_ui).status_code == 404
    crossed = f"/accounts/{world.other.account_id}/settings/integrations/{world.agency.integration_id}/activity.csv"
    assert admin.get(crossed).status_code == 404
    api = client.get(f"/api/integrations/{world.agency.integration_id}/activity.csv", headers=world.other.admin_headers)
    assert_problem(api, 404)
    assert_problem(client.get(f"/api/integrations/{world.agency.integration_id}/activity.csv"), 401)


def test_signed_out_csv_goes_to_sign_in(client, world):
    response = client.get(f"{detail_path(world.agency)}/activity.csv")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


@pytest.mark.parametrize("days", ["0", "401", "x", "", "1e3"])
def test_api_csv_refuses_a_bad_window(client, world, days):
    response = client.get(
        f"/api/integrations/{world.agency.integration_id}/activity.csv?days={days}", headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field="days")


def test_the_json_activity_gives_calls_per_day_and_service_beside_validations(client, world, two_services):
    response = client.get(
        f"/api/integrations/{world.agency.integration_id}/activity", headers=world.agency.admin_headers
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    calls = {row["day"]: row["count"] for row in body["calls"]}
    assert len(calls) == 30 and calls["2026-01-13"] == 5 and calls["2026-01-15"] == 5 and calls["2026-01-14"] == 0
    assert [(s["name"], s["calls"]) for s in body["services"]] == [("contacts-service", 8), ("calendar-service", 2)]
    assert body["services"][0]["scopes"] == ["contacts.readonly"]
