"""Builds a large benchmark world fast, in one process with the server's environment; prints one JSON object.

    python bench/bulk.py --tokens 10000 --integrations 100 [--filler 999000]

The account, clients and integrations go through the real CLI commands. Tokens are minted by the app's own
generator (real signatures, real claims) and their rows inserted in batches, because generating ten thousand of
them one request at a time would take longer than the benchmark. ``--filler`` adds rows that no benchmark token
refers to (copies of a real row under random ``jti``s), inserted by one SQL statement: only their number matters,
to show that an introspection does not slow down with the size of the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

from authserver import create_app  # noqa: E402
from authserver.extensions import db  # noqa: E402
from authserver.models import AccessToken  # noqa: E402
from authserver.security import new_id  # noqa: E402

SCOPES = ("contacts.readonly", "calendars.readonly")
BATCH = 1000

_FILLER_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO access_tokens (jti, integration_id, account_id, kid, scopes, issued_at, expires_at, revoked_at)
SELECT 'tok_' || lower(hex(randomblob(12))), t.integration_id, t.account_id, t.kid, t.scopes, t.issued_at,
       t.expires_at, t.issued_at
FROM n, (SELECT * FROM access_tokens LIMIT 1) AS t
"""
_FILLER_POSTGRESQL = """
INSERT INTO access_tokens (jti, integration_id, account_id, kid, scopes, issued_at, expires_at, revoked_at)
SELECT 'tok_' || substr(md5(random()::text || i::text), 1, 24), t.integration_id, t.account_id, t.kid, t.scopes,
       t.issued_at, t.expires_at, t.issued_at
FROM generate_series(1, :count) AS i, (SELECT * FROM access_tokens LIMIT 1) AS t
"""


def add_filler(count: int) -> int:
    """``count`` more rows (revoked copies of a real one), then fresh planner statistics; returns the row total."""
    if count > 0:
        dialect = db.engine.dialect.name
        db.session.execute(text(_FILLER_POSTGRESQL if dialect == "postgresql" else _FILLER_SQLITE), {"count": count})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE access_tokens" if dialect == "postgresql" else "ANALYZE"))
    return db.session.execute(text("SELECT count(*) FROM access_tokens")).scalar_one()


def build(*, tokens: int, integrations: int, filler: int, admin: bool) -> dict:
    app = create_app()
    runner = app.test_cli_runner()

    def cli(*args: str) -> dict:
        result = runner.invoke(args=[*args, "--json"], catch_exceptions=False)
        if result.exit_code != 0:
            raise SystemExit(f"authserver {' '.join(args)} failed: {result.output}")
        return json.loads(result.output)

    cli("init")
    account = cli("account", "create", "--name", "Bench")["id"]
    service = cli("client", "create", "--name", "bench-service", "--kind", "resource-service")
    made = {"client_id": service["client_id"], "client_secret": service["client_secret"], "account_id": account}
    if admin:
        admin_client = cli("client", "create", "--name", "bench-admin", "--kind", "admin", "--account", account)
        made |= {"admin_id": admin_client["client_id"], "admin_secret": admin_client["client_secret"]}
    scope_args = [arg for scope in SCOPES for arg in ("--scope", scope)]
    integration_ids = [
        cli("integration", "create", "--account", account, "--name", f"bench-{n}", *scope_args)["id"]
        for n in range(max(1, integrations))
    ]
    made["integrations"] = integration_ids
    with app.app_context():
        services = app.extensions["authserver"]
        now = services.clock.now()
        expires = now + timedelta(days=1)
        scope = " ".join(sorted(SCOPES))
        minted, rows = [], []
        for n in range(tokens):
            integration = integration_ids[n % len(integration_ids)]
            jti = new_id("tok")
            token, kid = services.generator.mint(
                integration_id=integration, account_id=account, scope=scope, jti=jti, issued_at=now, expires_at=expires
            )
            minted.append(token)
            rows.append(
                {
                    "jti": jti,
                    "integration_id": integration,
                    "account_id": account,
                    "kid": kid,
                    "scopes": scope,
                    "issued_at": now,
                    "expires_at": expires,
                }
            )
            if len(rows) == BATCH:
                db.session.execute(insert(AccessToken), rows)
                rows = []
        if rows:
            db.session.execute(insert(AccessToken), rows)
        db.session.commit()
        made["tokens"] = minted
        made["records"] = add_filler(filler)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--integrations", type=int, default=100)
    parser.add_argument("--filler", type=int, default=0)
    parser.add_argument("--admin", action="store_true", help="also register an admin client of the account")
    parser.add_argument(
        "--add-filler",
        type=int,
        default=None,
        help="only add this many filler rows to the existing database (a copy of a built one)",
    )
    args = parser.parse_args()
    if args.add_filler is not None:
        app = create_app()
        with app.app_context():
            json.dump({"records": add_filler(args.add_filler)}, sys.stdout)
        return
    json.dump(
        build(tokens=args.tokens, integrations=args.integrations, filler=args.filler, admin=args.admin), sys.stdout
    )


if __name__ == "__main__":
    main()
