"""The v2 API through the Flask test client: tenancy, scopes, paging and input validation (local mode)."""

from __future__ import annotations

import pytest

from .conftest import bearer

READ_WRITE = "contacts.readonly contacts.write"


def test_empty_store_lists_no_contacts(client, issuer):
    response = client.get("/v2/contacts", headers=bearer(issuer.mint()))
    assert response.status_code == 200
    assert response.get_json() == {"contacts": [], "next_cursor": None}


def test_contact_lifecycle_create_read_update_delete(client, issuer):
    headers = bearer(issuer.mint(scope=READ_WRITE))
    created = client.post("/v2/contacts", json={"name": " Ada ", "email": "ada@example.com"}, headers=headers)
    assert created.status_code == 201
    contact = created.get_json()
    assert contact["name"] == "Ada" and created.headers["Location"] == f"/v2/contacts/{contact['id']}"
    updated = client.patch(
        f"/v2/contacts/{contact['id']}", json={"company": "Analytical", "email": None}, headers=headers
    )
    assert updated.get_json()["company"] == "Analytical" and updated.get_json()["email"] is None
    assert client.get(f"/v2/contacts/{contact['id']}", headers=headers).get_json()["name"] == "Ada"
    assert client.delete(f"/v2/contacts/{contact['id']}", headers=headers).status_code == 204
    assert client.get(f"/v2/contacts/{contact['id']}", headers=headers).status_code == 404


def test_paging_walks_every_contact_once_with_opaque_cursors(client, issuer):
    headers = bearer(issuer.mint(scope=READ_WRITE))
    ids = [client.post("/v2/contacts", json={"name": f"c{i}"}, headers=headers).get_json()["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v2/contacts{query}", headers=headers).get_json()
        seen += [c["id"] for c in page["contacts"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_another_accounts_objects_are_not_found_rather_than_forbidden(client, issuer):
    mine = bearer(issuer.mint(account_id="acc_a", integration_id="int_a", scope=READ_WRITE))
    theirs = bearer(
        issuer.mint(
            account_id="acc_b", integration_id="int_b", scope=READ_WRITE + " calendars.readonly calendars.write"
        )
    )
    contact = client.post("/v2/contacts", json={"name": "B's"}, headers=theirs).get_json()["id"]
    calendar = client.post("/v2/calendars", json={"name": "B's"}, headers=theirs).get_json()["id"]
    assert client.get(f"/v2/contacts/{contact}", headers=mine).status_code == 404
    assert client.patch(f"/v2/contacts/{contact}", json={"name": "x"}, headers=mine).status_code == 404
    assert client.delete(f"/v2/contacts/{contact}", headers=mine).status_code == 404
    assert client.get("/v2/contacts", headers=mine).get_json()["contacts"] == []
    mine_calendars = bearer(
        issuer.mint(account_id="acc_a", integration_id="int_c", scope="calendars.readonly calendars.write")
    )
    assert client.get(f"/v2/calendars/{calendar}/events", headers=mine_calendars).status_code == 404
    event = {"title": "x", "starts_at": "2026-01-01T10:00:00Z", "ends_at": "2026-01-01T11:00:00Z"}
    assert client.post(f"/v2/calendars/{calendar}/events", json=event, headers=mine_calendars).status_code == 404
    assert client.get(f"/v2/contacts/{contact}", headers=theirs).status_code == 200


def test_calendars_and_events_need_their_own_scopes(client, issuer):
    contacts_only = bearer(issuer.mint(scope=READ_WRITE))
    refused = client.get("/v2/calendars", headers=contacts_only)
    assert refused.status_code == 403 and refused.get_json()["scope"] == "calendars.readonly"
    read_only = bearer(issuer.mint(integration_id="int_r", scope="calendars.readonly"))
    assert client.post("/v2/calendars", json={"name": "x"}, headers=read_only).status_code == 403
    writer = bearer(issuer.mint(integration_id="int_w", scope="calendars.readonly calendars.write"))
    calendar = client.post("/v2/calendars", json={"name": "Team"}, headers=writer).get_json()
    event = client.post(
        f"/v2/calendars/{calendar['id']}/events",
        headers=writer,
        json={"title": "Stand-up", "starts_at": "2026-01-05T09:00:00+01:00", "ends_at": "2026-01-05T09:15:00+01:00"},
    )
    assert event.status_code == 201 and event.get_json()["starts_at"] == "2026-01-05T08:00:00Z"
    listed = client.get(f"/v2/calendars/{calendar['id']}/events", headers=read_only).get_json()
    assert [e["title"] for e in listed["events"]] == ["Stand-up"]
    assert client.delete(f"/v2/calendars/{calendar['id']}", headers=writer).status_code == 204
    assert client.get(f"/v2/calendars/{calendar['id']}", headers=read_only).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 42}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Ada", "email": "not-an-email"}, "email"),
        ({"name": "Ada", "emial": "ada@example.com"}, "emial"),
        ({"name": "Ada\x00"}, "name"),
    ],
)
def test_invalid_contact_input_is_a_400_naming_the_field(client, issuer, body, field):
    response = client.post("/v2/contacts", json=body, headers=bearer(issuer.mint(scope=READ_WRITE)))
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.get_json()["field"] == field


@pytest.mark.parametrize("raw", ["[1, 2]", "not json", ""])
def test_a_body_that_is_not_a_json_object_is_a_400(client, issuer, raw):
    response = client.post(
        "/v2/contacts", data=raw, content_type="application/json", headers=bearer(issuer.mint(scope=READ_WRITE))
    )
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "cursor=bogus", "cursor=djE6LTE"])
def test_bad_paging_arguments_are_a_400(client, issuer, query):
    assert client.get(f"/v2/contacts?{query}", headers=bearer(issuer.mint())).status_code == 400


@pytest.mark.parametrize(
    "event",
    [
        {"title": "x", "starts_at": "tomorrow", "ends_at": "2026-01-01T10:00:00Z"},
        {"title": "x", "starts_at": "2026-01-01T10:00:00Z", "ends_at": "2026-01-01T09:00:00Z"},
        {"title": "", "starts_at": "2026-01-01T10:00:00Z", "ends_at": "2026-01-01T11:00:00Z"},
    ],
)
def test_invalid_events_are_a_400(client, issuer, event):
    headers = bearer(issuer.mint(scope="calendars.readonly calendars.write"))
    calendar = client.post("/v2/calendars", json={"name": "c"}, headers=headers).get_json()["id"]
    assert client.post(f"/v2/calendars/{calendar}/events", json=event, headers=headers).status_code == 400


def test_unknown_routes_and_methods_answer_json_problems(client, issuer):
    assert client.get("/v2/nothing-here").status_code == 404
    response = client.put("/v2/contacts", headers=bearer(issuer.mint()))
    assert response.status_code == 405 and response.get_json()["status"] == 405


def test_an_oversized_body_is_refused_before_it_is_read(client, issuer):
    response = client.post(
        "/v2/contacts",
        data="x" * (1024 * 1024 + 1),
        content_type="application/json",
        headers=bearer(issuer.mint(scope=READ_WRITE)),
    )
    assert response.status_code == 413
