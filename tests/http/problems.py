"""Assertions on RFC 7807 problem responses from the admin API."""

from __future__ import annotations


def assert_problem(response, status: int, *, field: str | None = None, code: str | None = None) -> dict:
    """The response is an RFC 7807 problem with this status (and, for validation errors, names the field)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    if code is not None:
        assert body["type"].endswith("/" + code), body["type"]
    if field is not None:
        assert [error["field"] for error in body.get("errors", [])] == [field], body
        assert all(error["message"] for error in body["errors"])
    return body
