"""RFC 7807 problem responses for the JSON admin API."""

from __future__ import annotations

from flask import g, jsonify

from ..errors import DomainError

PROBLEM_TYPE = "https://authserver.dev/problems/"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    field: str | None = None,
    headers: dict | None = None,
):
    body = {
        "type": PROBLEM_TYPE + (code or title.lower().replace(" ", "_")),
        "title": title,
        "status": status,
        "detail": detail or title,
        "request_id": g.get("request_id"),
    }
    if field:
        body["errors"] = [{"field": field, "message": detail}]
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def domain_problem(exc: DomainError):
    headers = {"WWW-Authenticate": 'Basic realm="authserver"'} if exc.status == 401 else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:  # 429: when to try again (RFC 6585)
        headers = {"Retry-After": str(retry_after)}
    return problem(exc.status, exc.title, exc.detail, code=exc.code, field=exc.field, headers=headers)
