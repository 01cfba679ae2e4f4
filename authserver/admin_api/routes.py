"""Admin API routes. Each view: parse, find out who is asking, call one domain function, serialize."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from flask import Response, current_app, jsonify, request

from .. import accounts, audit, integration_search, integrations
from ..activity import usage_by_day
from ..activity.calls import integration_calls
from ..durations import isoformat, parse_instant
from ..errors import DomainError, InvalidInputError
from ..integrations import DEFAULT_GRACE, serialize_integration, serialize_token
from ..scopes import describe_catalogue
from ..security import is_identifier
from ..services import services
from .auth import current_principal
from .blueprint import bp
from .parsing import deadline, digits_param, duration, expected_version, json_body, string_field
from .problems import domain_problem

OPENAPI = Path(__file__).with_name("openapi.json")


def _now():
    return services().clock.now()


@bp.errorhandler(DomainError)
def on_domain_error(exc: DomainError):
    return domain_problem(exc)  # the view's unit of work has already rolled back


@bp.get("/openapi.json")
def openapi():
    document = json.loads(OPENAPI.read_text())
    document["servers"] = [{"url": current_app.config["AUTHSERVER_ISSUER"]}]
    return jsonify(document)


@bp.get("/scopes")
def list_scopes():
    current_principal()
    return jsonify(resources=describe_catalogue())


# -- accounts -------------------------------------------------------------------------------------------
def _account_body(account):
    body = accounts.serialize_account(account)
    body["effective_allowed_scopes"] = sorted(accounts.allowed_scopes(account))
    body["created_at"] = isoformat(account.created_at)
    return body


@bp.get("/accounts")
def list_accounts():
    principal = current_principal()
    return jsonify(accounts=[_account_body(a) for a in accounts.list_accounts(principal)])


@bp.post("/accounts")
def create_account():
    principal, data = current_principal(), json_body()
    account = accounts.create_account(
        principal, name=data.get("name"), parent_id=string_field(data, "parent_id"), now=_now()
    )
    return jsonify(_account_body(account)), 201


@bp.get("/accounts/<account_id>")
def get_account(account_id):
    return jsonify(_account_body(accounts.get_account_for(current_principal(), account_id)))


@bp.patch("/accounts/<account_id>")
def update_account(account_id):
    principal, data = current_principal(), json_body()
    clear = "allowed_scopes" in data and data["allowed_scopes"] is None
    account = accounts.update_account(
        principal,
        account_id,
        now=_now(),
        name=string_field(data, "name"),
        allowed=None if clear else data.get("allowed_scopes"),
        clear_allowed=clear,
        max_token_lifetime=duration(data, "max_token_lifetime"),
        clear_max_token_lifetime="max_token_lifetime" in data and data["max_token_lifetime"] is None,
        default_inactivity_window=_nullable_duration(data, "default_inactivity_window"),
        max_inactivity_window=_nullable_duration(data, "max_inactivity_window"),
    )
    return jsonify(_account_body(account))


def _nullable_duration(data: dict, key: str):
    """Absent: unchanged; null: never / no maximum; else a duration (seconds or text), checked by the domain."""
    return duration(data, key) if key in data else accounts.UNCHANGED


@bp.get("/accounts/<account_id>/audit")
def list_audit(account_id):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id)
    args = request.args
    limit = args.get("limit", "100")
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 6):
        raise InvalidInputError("limit must be a number", field="limit")
    before_id = digits_param("before_id")  # bounded: a bigger number overflows the database's integer
    for key in ("action", "target_id"):  # audited names and ids are short printable ASCII; PostgreSQL refuses NUL
        if args.get(key) and not is_identifier(args[key]):
            raise InvalidInputError(f"{key} must be printable text of at most 64 characters", field=key)
    rows = audit.list_events(
        [account.id],
        action=args.get("action") or None,
        target_id=args.get("target_id") or None,
        since=parse_instant(args["since"], field="since") if args.get("since") else None,
        until=parse_instant(args["until"], field="until") if args.get("until") else None,
        limit=int(limit),
        before_id=before_id or None,
    )
    if args.get("format") == "csv":
        return Response(audit.to_csv(rows), mimetype="text/csv")
    return jsonify(events=[audit.serialize(row) for row in rows])


# -- integrations ---------------------------------------------------------------------------------------
def _live_token(row, integration, now) -> dict:
    """A live token as the integration's representation lists it; ``dpop_binding_differs``: issued with another key
    binding than the integration has now, so it keeps that one until rotated (RFC 9449 ``cnf`` is signed in)."""
    return serialize_token(row, now) | {
        "status": integrations.token_status(row, now),
        "dpop_binding_differs": integrations.binding_differs(row, integration),
    }


def _integration_response(integration, status: int = 200):
    now = _now()
    body = serialize_integration(integration)
    body["tokens"] = [_live_token(row, integration, now) for row in integrations.live_tokens(integration.id, now)]
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = f'"{integration.version}"'
    return response


def _inactivity(data: dict, absent: str):
    if "inactivity_window" not in data:
        return absent
    if data["inactivity_window"] == "never":
        return None
    return duration(data, "inactivity_window")


def _jwk(data: dict) -> dict | None:
    """``dpop_jwk``: a public JWK as a JSON object (not its text), or absent/null."""
    value = data.get("dpop_jwk")
    if value is not None and not isinstance(value, dict):
        raise InvalidInputError("dpop_jwk must be a JWK object", field="dpop_jwk")
    return value


@bp.get("/accounts/<account_id>/integrations")
def list_integrations(account_id):
    """Search (``q``), ``status``, ``sort`` and pages, as on the list page (integration_search)."""
    principal = current_principal()
    now = _now()
    query = integration_search.parse_query(request.args, per_page=integration_search.MAX_PER_PAGE)
    found = integration_search.find_integrations(principal, account_id, query, now)
    items = []
    for integration, live in found.items:
        body = serialize_integration(integration)
        body["tokens"] = [_live_token(row, integration, now) for row in live]
        items.append(body)
    return jsonify(integrations=items, total=found.total, page=query.page, per_page=query.per_page)


@bp.post("/accounts/<account_id>/integrations")
def create_integration(account_id):
    principal, data = current_principal(), json_body()
    integration = integrations.create_integration(
        principal,
        account_id=account_id,
        name=data.get("name"),
        description=data.get("description"),
        scopes=data.get("scopes"),
        now=_now(),
        inactivity_window=_inactivity(data, "default"),
        resources=data.get("resources"),
        dpop_jkt=data.get("dpop_jkt"),
        dpop_jwk=_jwk(data),
    )
    return _integration_response(integration, 201)


@bp.get("/integrations/<integration_id>")
def get_integration(integration_id):
    return _integration_response(integrations.get_integration_for(current_principal(), integration_id))


@bp.patch("/integrations/<integration_id>")
def update_integration(integration_id):
    principal, data = current_principal(), json_body()
    integration = integrations.update_integration(
        principal,
        integration_id,
        now=_now(),
        expected_version=expected_version(),
        name=string_field(data, "name"),
        description=string_field(data, "description"),
        scopes=data.get("scopes"),
        inactivity_window=_inactivity(data, "unchanged"),
        resources=data.get("resources", "unchanged"),
        dpop_jkt=data.get("dpop_jkt", "unchanged"),
        dpop_jwk=_jwk(data),
    )
    return _integration_response(integration)


@bp.delete("/integrations/<integration_id>")
def delete_integration(integration_id):
    integrations.set_status(
        current_principal(), integration_id, "deleted", now=_now(), expected_version=expected_version()
    )
    return "", 204


@bp.post("/integrations/<integration_id>/disable")
def disable_integration(integration_id):
    integration = integrations.set_status(
        current_principal(), integration_id, "disabled", now=_now(), expected_version=expected_version()
    )
    return _integration_response(integration)


@bp.post("/integrations/<integration_id>/enable")
def enable_integration(integration_id):
    integration = integrations.set_status(
        current_principal(), integration_id, "active", now=_now(), expected_version=expected_version()
    )
    return _integration_response(integration)


# -- tokens ---------------------------------------------------------------------------------------------
def _issued_response(issued, status=201):
    now = _now()
    # RFC 9449 section 5: a token bound to a key is of type DPoP (sent as "Authorization: DPoP", with a proof)
    token_type = "DPoP" if issued.record.dpop_jkt else "Bearer"
    body = serialize_token(issued.record, now) | {"token": issued.token, "token_type": token_type}
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # the token is shown once; no cache may keep it
    return response


@bp.get("/integrations/<integration_id>/tokens")
def list_tokens(integration_id):
    now = _now()
    rows = integrations.list_tokens(current_principal(), integration_id)
    return jsonify(tokens=[serialize_token(r, now) | {"status": integrations.token_status(r, now)} for r in rows])


@bp.post("/integrations/<integration_id>/tokens")
def generate_token(integration_id):
    principal, data = current_principal(), json_body()
    issued = integrations.generate_token(
        principal,
        integration_id,
        policy=services().policy,
        now=_now(),
        expires_in=duration(data, "expires_in"),
        expected_version=expected_version(),
    )
    return _issued_response(issued)


@bp.post("/integrations/<integration_id>/rotate")
def rotate(integration_id):
    """``{"mode": "now"}`` stops the old token at once; ``{"mode": "later", "grace": "7d"}`` (or ``grace_until``)
    keeps it working through the grace period."""
    principal, data = current_principal(), json_body()
    now = _now()
    mode = data.get("mode", "later" if ("grace" in data or "grace_until" in data) else "now")
    common = dict(
        policy=services().policy, now=now, expires_in=duration(data, "expires_in"), expected_version=expected_version()
    )
    if mode == "now":
        issued = integrations.rotate_now(principal, integration_id, **common)
    elif mode == "later":
        grace_until = deadline(data, now, duration_key="grace", at_key="grace_until", default=DEFAULT_GRACE)
        issued = integrations.rotate_with_grace(principal, integration_id, grace_until=grace_until, **common)
    else:
        raise InvalidInputError('mode must be "now" or "later"', field="mode")
    return _issued_response(issued)


@bp.post("/integrations/<integration_id>/expire")
def expire(integration_id):
    """Expire now (all live tokens, or one ``token_id``), or later with ``at`` / ``in``."""
    principal, data = current_principal(), json_body()
    now = _now()
    at = deadline(data, now, duration_key="in", at_key="at", default=None)
    if at is None:
        integrations.expire_now(
            principal, integration_id, now=now, jti=string_field(data, "token_id"), expected_version=expected_version()
        )
    else:
        integrations.expire_later(principal, integration_id, now=now, at=at, expected_version=expected_version())
    return _integration_response(integrations.get_integration_for(principal, integration_id))


@bp.get("/integrations/<integration_id>/activity")
def activity(integration_id):
    principal = current_principal()
    days = request.args.get("days", "30")
    if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= 400:
        raise InvalidInputError("days must be between 1 and 400", field="days")
    integration = integrations.get_integration_for(principal, integration_id)
    rows = integrations.list_tokens(principal, integration.id)
    today = _now().date()
    usage = usage_by_day([r.jti for r in rows], since=today - timedelta(days=int(days) - 1), until=today)
    calls = integration_calls(principal, integration.id, today=today, days=int(days))
    last = max((r for r in rows if r.last_used_at), key=lambda r: r.last_used_at, default=None)
    return jsonify(
        integration_id=integration.id,
        last_used_at=isoformat(last.last_used_at) if last else None,
        last_used_by=last.last_used_by if last else None,
        usage=[{"day": day.isoformat(), "count": count} for day, count in usage.items()],
        calls=[{"day": day.isoformat(), "count": count} for day, count in calls.per_day().items()],
        services=[
            {"service_id": s.service_id, "name": s.name, "calls": s.calls, "scopes": s.scopes} for s in calls.services
        ],
    )
