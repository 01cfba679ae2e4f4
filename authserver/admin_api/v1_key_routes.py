"""Admin API for the v1 to v2 migration: the report, migrate one key, roll a migration back."""

from __future__ import annotations

from flask import jsonify

from ..integrations import serialize_integration, serialize_token
from ..services import services
from ..v1keys import keys, migration, report
from .auth import current_principal
from .blueprint import bp
from .parsing import duration, json_body


@bp.get("/accounts/<account_id>/v1-keys/migration-report")
def v1_migration_report(account_id):
    return jsonify(report.migration_report(current_principal(), account_id, now=services().clock.now()))


@bp.post("/v1-keys/<key_id>/migrate")
def migrate_v1_key(key_id):
    """``{"overlap": "14d"}``. The v2 token is in this response only."""
    principal, data = current_principal(), json_body()
    now = services().clock.now()
    done = migration.migrate_key(
        principal, key_id, overlap=duration(data, "overlap"), now=now, policy=services().policy
    )
    response = jsonify(
        key=keys.serialize_key(done.key, now),
        integration=serialize_integration(done.integration),
        token=serialize_token(done.issued.record, now) | {"token": done.issued.token, "token_type": "Bearer"},
    )
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/v1-keys/<key_id>/rollback")
def rollback_v1_key_migration(key_id):
    now = services().clock.now()
    key = migration.rollback_migration(current_principal(), key_id, now=now)
    return jsonify(keys.serialize_key(key, now))
