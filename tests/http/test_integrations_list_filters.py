"""The integrations list's search, status filter, sort and pages: on the page and in the admin API (same answers),
exact results, bad parameters as a message on the page or a 400 problem, and never another tenant's rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import update

from authserver.extensions import db
from authserver.integrations import create_integration, rotate_with_grace, set_status
from authserver.models import AccessToken, Integration
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from tests.conftest import START
from tests.factories import issue_token, make_integration
from tests.support.admin_ui import ADMIN, add_people, signed_in

DAY = timedelta(days=1)
_ROW = re.compile(r'<tr data-integration="([^"]+)"')


@dataclass
class Catalogue:
    ids: dict[str, str]  # name -> id

    def names(self, ids: list[str]) -> list[str]:
        by_id = {value: key for key, value in self.ids.items()}
        return [by_id[item] for item in ids]


@pytest.fixture
def listed(app, world, services, clock) -> Catalogue:
    """The agency's integrations, at START:
    Agency integration   (the world's) one token, 90 days left, unused
    Old unused           created 40 days ago, one token never used
    Old but used         created 40 days ago, its token used 5 days ago
    Idle soon            10-day inactivity window, token issued 5 days ago: stops in 5 days if unused
    Rotating one         rotated with a 3-day grace: two live tokens
    Disabled thing       disabled by an admin
    No token yet         enabled, never given a token
    """
    ids = {"Agency integration": world.agency.integration_id}
    for name in ("Old unused", "Old but used"):
        ids[name] = make_integration(clock, world.agency.account_id, name=name).id
        issue_token(services, clock, ids[name])
    ids["Idle soon"] = make_integration(
        clock, world.agency.account_id, name="Idle soon", inactivity_window=10 * 86400
    ).id
    issue_token(services, clock, ids["Idle soon"])
    with unit_of_work():  # tokens cannot be minted in the past (the signing key starts at START): move them back
        old = [ids["Old unused"], ids["Old but used"]]
        db.session.execute(update(Integration).where(Integration.id.in_(old)).values(created_at=START - 40 * DAY))
        tokens = update(AccessToken)
        db.session.execute(tokens.where(AccessToken.integration_id.in_(old)).values(issued_at=START - 40 * DAY))
        db.session.execute(
            tokens.where(AccessToken.integration_id == ids["Old but used"]).values(last_used_at=START - 5 * DAY)
        )
        db.session.execute(
            tokens.where(AccessToken.integration_id == ids["Idle soon"]).values(issued_at=START - 5 * DAY)
        )
    with unit_of_work():
        ids["Rotating one"] = create_integration(
            OPERATOR,
            account_id=world.agency.account_id,
            name="Rotating one",
            description="Syncs 100% of CRM_contacts",
            scopes=["contacts.readonly"],
            now=START,
        ).id
    issue_token(services, clock, ids["Rotating one"])
    with unit_of_work():
        rotate_with_grace(OPERATOR, ids["Rotating one"], policy=services.policy, now=START, grace_until=START + 3 * DAY)
    ids["Disabled thing"] = make_integration(clock, world.agency.account_id, name="Disabled thing").id
    with unit_of_work():
        set_status(OPERATOR, ids["Disabled thing"], "disabled", now=START)
    ids["No token yet"] = make_integration(clock, world.agency.account_id, name="No token yet").id
    return Catalogue(ids)


def api_ids(client, world, **params) -> list[str]:
    response = client.get(
        f"/api/accounts/{world.agency.account_id}/integrations", query_string=params, headers=world.agency.admin_headers
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.get_json()["integrations"]]


def page_ids(admin, world, **params) -> list[str]:
    response = admin.get(f"/accounts/{world.agency.account_id}/settings/integrations", query_string=params)
    assert response.status_code == 200, response.text
    return _ROW.findall(response.text)


@pytest.fixture
def admin(app, world, clock):
    add_people(world, clock, member=False)
    return signed_in(app, ADMIN)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", {"Agency integration", "Old unused", "Old but used", "Idle soon"}),
        ("rotating", {"Rotating one"}),
        ("expiring_soon", {"Rotating one", "Idle soon"}),
        ("unused_30d", {"Old unused"}),
        ("disabled", {"Disabled thing"}),
    ],
)
def test_each_status_filter_gives_exactly_its_integrations_on_the_page_and_in_the_api(
    client, admin, world, listed, status, expected
):
    assert set(listed.names(api_ids(client, world, status=status))) == expected
    assert set(listed.names(page_ids(admin, world, status=status))) == expected


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ROTAT", {"Rotating one"}),
        ("crm_contacts", {"Rotating one"}),  # the description; "_" is a letter here, not a wildcard
        ("100%", {"Rotating one"}),  # "%" too
        ("%", {"Rotating one"}),
        ("old", {"Old unused", "Old but used"}),
        ("nothing like this", set()),
    ],
)
def test_search_matches_name_description_and_id_case_insensitively(client, admin, world, listed, search, expected):
    assert set(listed.names(api_ids(client, world, q=search))) == expected
    assert set(listed.names(page_ids(admin, world, q=search))) == expected


def test_search_by_id_and_combined_with_a_status(client, world, listed):
    wanted = listed.ids["Idle soon"]
    assert api_ids(client, world, q=wanted.upper()) == [wanted]
    assert api_ids(client, world, q="thing", status="disabled") == [listed.ids["Disabled thing"]]
    assert api_ids(client, world, q="thing", status="active") == []  # a match by search alone is not enough


def test_sorts(client, admin, world, listed):
    by_name = sorted(listed.ids, key=str.lower)
    assert listed.names(api_ids(client, world, sort="name")) == by_name
    assert listed.names(page_ids(admin, world, sort="name")) == by_name
    expires = listed.names(api_ids(client, world, sort="expires"))
    assert expires[:2] == ["Rotating one", "Idle soon"]  # grace ends in 3 days, idle in 5
    assert set(expires[-2:]) == {"No token yet", "Disabled thing"}  # no live token: last
    assert listed.names(api_ids(client, world, sort="last_used"))[0] == "Old but used"
    assert set(listed.names(api_ids(client, world))[-2:]) == {"Old unused", "Old but used"}  # newest first


def test_pages_are_bounded_and_count_every_match(client, world, listed):
    response = client.get(
        f"/api/accounts/{world.agency.account_id}/integrations",
        query_string={"sort": "name", "per_page": "3", "page": "2"},
        headers=world.agency.admin_headers,
    )
    body = response.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (7, 2, 3)
    assert listed.names([item["id"] for item in body["integrations"]]) == sorted(listed.ids, key=str.lower)[3:6]
    expiring = client.get(
        f"/api/accounts/{world.agency.account_id}/integrations",
        query_string={"status": "expiring_soon", "per_page": "1", "page": "2"},
        headers=world.agency.admin_headers,
    ).get_json()
    assert expiring["total"] == 2 and len(expiring["integrations"]) == 1


def test_the_api_lists_live_tokens_with_each_match(client, world, listed):
    response = client.get(
        f"/api/accounts/{world.agency.account_id}/integrations",
        query_string={"status": "rotating"},
        headers=world.agency.admin_headers,
    )
    (item,) = response.get_json()["integrations"]
    assert sorted(token["status"] for token in item["tokens"]) == ["active", "grace"]


def test_the_page_shows_expiry_badges_and_says_what_expiring_soon_means(admin, world, listed):
    html = admin.get(f"/accounts/{world.agency.account_id}/settings/integrations").text
    assert "Grace ends in 3 days" in html
    assert "Expires in 5 days if unused" in html
    assert "Expires in 90 days" in html  # the world's token: default lifetime, no inactivity window
    assert "a live token stops within 7 days" in html
    assert "View contacts" in html  # what contacts.readonly allows, not only "Read"


def test_a_filter_with_no_match_says_so(admin, world, listed):
    response = admin.get(
        f"/accounts/{world.agency.account_id}/settings/integrations", query_string={"q": "zzz", "status": "rotating"}
    )
    assert response.status_code == 200
    assert "No integrations match" in response.text and "zzz" in response.text
    assert "No private integrations yet" not in response.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"status": "bogus"}, "status", "status must be one of active, rotating, expiring_soon, unused_30d, disabled"),
        ({"sort": "price"}, "sort", "sort must be one of name, created, last_used, expires"),
        ({"q": "x" * 101}, "q", "the search text (q) must be at most 100 characters"),
        ({"page": "0"}, "page", "page must be a whole number from 1 to 100000"),
        ({"page": "²"}, "page", "page must be a whole number from 1 to 100000"),
        ({"per_page": "101"}, "per_page", "per_page must be a whole number from 1 to 100"),
    ],
)
def test_bad_parameters_are_a_400_problem_naming_the_field_and_a_message_on_the_page(shared, params, field, message):
    world = shared.world
    response = shared.client.get(
        f"/api/accounts/{world.agency.account_id}/integrations", query_string=params, headers=world.agency.admin_headers
    )
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.get_json()["errors"] == [{"field": field, "message": message}]


@pytest.mark.parametrize(
    ("params", "message"),
    [({"status": "bogus"}, "Status must be one of"), ({"q": "y" * 101}, "The search text (q) must")],
)
def test_bad_parameters_on_the_page_render_a_message_not_an_error_page(admin, world, params, message):
    response = admin.get(f"/accounts/{world.agency.account_id}/settings/integrations", query_string=params)
    assert response.status_code == 400
    assert 'id="filter-error"' in response.text and message in response.text
    assert "Traceback" not in response.text and _ROW.findall(response.text) == []


def test_another_tenants_integrations_never_match(client, admin, world, listed):
    # "integration" is in the name of every tenant's world integration; only the agency's own comes back.
    assert api_ids(client, world, q="integration") == [world.agency.integration_id]
    assert page_ids(admin, world, q="integration") == [world.agency.integration_id]
    other = client.get(
        f"/api/accounts/{world.other.account_id}/integrations",
        query_string={"q": "integration"},
        headers=world.agency.admin_headers,
    )
    assert other.status_code == 404
    page = admin.get(f"/accounts/{world.other.account_id}/settings/integrations", query_string={"status": "active"})
    assert page.status_code == 404 and world.other.integration_id not in page.text
