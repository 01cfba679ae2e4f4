"""Migrations: from nothing they build exactly the models' schema, and an old database upgrades keeping its rows."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from authserver import models  # noqa: F401  (registers every table on db.metadata)
from authserver.database import alembic_config, schema_is_current, upgrade
from authserver.extensions import db
from tests.support.databases import ThrowawayPostgres, postgres_available


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    """A brand-new, empty database on each backend (not the shared test database, which is already migrated)."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    database = ThrowawayPostgres()
    engine = create_engine(database.url)
    yield engine
    engine.dispose()
    database.drop()


def schema_differences(engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def upgrade_to(engine, revision: str) -> None:
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_migrations_from_an_empty_database_build_exactly_the_models_schema(empty_engine):
    upgrade(empty_engine)
    assert schema_differences(empty_engine) == []
    assert schema_is_current(empty_engine)


def test_upgrading_twice_changes_nothing(empty_engine):
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert schema_differences(empty_engine) == []


def test_the_migration_history_is_one_straight_line_starting_at_0001():
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].revision == "0001" and revisions[-1].down_revision is None


ROWS_AT_0001 = {
    "accounts": [
        "INSERT INTO accounts (id, name, parent_id, allowed_scopes, max_token_lifetime, default_inactivity_window,"
        " max_inactivity_window, allow_no_inactivity_expiry, created_at) VALUES ('acc_agency', 'Agency', NULL,"
        " 'contacts.readonly contacts.write', 2592000, 7776000, NULL, :true, :t)",
        "INSERT INTO accounts (id, name, parent_id, allowed_scopes, max_token_lifetime, default_inactivity_window,"
        " max_inactivity_window, allow_no_inactivity_expiry, created_at) VALUES ('acc_sub', 'Sub', 'acc_agency',"
        " NULL, NULL, NULL, NULL, :false, :t)",
    ],
    "users": [
        "INSERT INTO users (id, email, password_hash, session_generation, created_at)"
        " VALUES ('usr_1', 'ada@example.com', 'scrypt$16384$8$1$00$00', 0, :t)"
    ],
    "memberships": ["INSERT INTO memberships (user_id, account_id, role) VALUES ('usr_1', 'acc_agency', 'admin')"],
    "api_clients": [
        "INSERT INTO api_clients (client_id, name, kind, account_id, secret_digest, created_at)"
        " VALUES ('cli_1', 'Admin', 'admin', 'acc_agency', :digest, :t)"
    ],
    "integrations": [
        "INSERT INTO integrations (id, account_id, name, description, scopes, status,"
        " inactivity_window, created_by, created_at, updated_at, version) VALUES ('int_1', 'acc_sub',"
        " 'Zapier', 'sync', 'contacts.readonly', 'active', 7776000, 'operator:cli', :t, :t, 3)"
    ],
    "access_tokens": [
        "INSERT INTO access_tokens (jti, integration_id, account_id, kid, scopes, issued_at,"
        " expires_at, ends_at, revoked_at, revocation_reason, replaced_by, last_used_at, last_used_by)"
        " VALUES ('tok_1', 'int_1', 'acc_sub', 'kid1', 'contacts.readonly', :t, :t, NULL, NULL, NULL,"
        " NULL, :t, 'cli_rs')"
    ],
    "token_usage_daily": ["INSERT INTO token_usage_daily (jti, day, count) VALUES ('tok_1', '2026-01-15', 42)"],
    "signing_keys": [
        "INSERT INTO signing_keys (kid, alg, public_jwk, created_at, retired_at)"
        " VALUES ('kid1', 'RS256', '{\"kty\": \"RSA\"}', :t, NULL)"
    ],
    "audit_events": [
        "INSERT INTO audit_events (account_id, occurred_at, actor_type, actor_id, action, target_type,"
        " target_id, source_address, before, after) VALUES ('acc_sub', :t, 'operator', 'cli',"
        " 'token.generated', 'integration', 'int_1', '127.0.0.1', NULL, '{\"jti\": \"tok_1\"}')"
    ],
}


def test_a_database_at_0001_upgrades_to_head_keeping_its_rows(empty_engine):
    upgrade_to(empty_engine, "0001")
    params = {"t": datetime(2026, 1, 15, 12, 0, 0), "true": True, "false": False, "digest": "ab" * 32}
    with empty_engine.begin() as connection:
        for statements in ROWS_AT_0001.values():
            for statement in statements:
                connection.execute(text(statement), params)
        before = {
            table: [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]  # noqa: S608
            for table in ROWS_AT_0001
        }

    upgrade(empty_engine)

    assert schema_is_current(empty_engine)
    assert schema_differences(empty_engine) == []
    with empty_engine.connect() as connection:
        # Every value that was there is still there; columns added since may only add to a row.
        after = {
            table: [
                {column: row._mapping[column] for column in before[table][0]}
                for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
            ]  # noqa: S608
            for table in ROWS_AT_0001
        }
        assert after == before
        client = connection.execute(
            text(
                "SELECT secret_digest, previous_secret_digest, disabled_at, deleted_at"
                " FROM api_clients WHERE client_id = 'cli_1'"
            )
        ).one()
        assert tuple(client) == ("ab" * 32, None, None, None)  # the one secret still works; nothing rotated out
        assert connection.execute(text("SELECT count FROM token_usage_daily")).scalar() == 42
        key = connection.execute(text("SELECT signs_from, created_at, revoked_at FROM signing_keys")).one()
        assert key[0] == key[1] and key[2] is None  # a key on record signed from its creation, and still may
        assert connection.execute(text("SELECT version FROM integrations WHERE id = 'int_1'")).scalar() == 3
