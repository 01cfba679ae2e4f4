"""The ``authserver`` command line through Flask's CLI runner: ``--json`` prints exactly one JSON object, and bad
arguments give one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from authserver.durations import isoformat


def run_json(runner, *args, input=None) -> dict:
    result = runner.invoke(args=[*args, "--json"], input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    payload = json.loads(lines[0])
    assert isinstance(payload, dict)
    return payload


def assert_one_line_error(result, fragment: str | None = None) -> str:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    if fragment is not None:
        assert fragment in error, error
    return error


@pytest.fixture
def setup(runner):
    """An agency with a sub-account, an admin client, a resource service and an integration, made by the CLI."""
    agency = run_json(runner, "account", "create", "--name", "Agency")
    sub = run_json(runner, "account", "create", "--name", "Sub", "--parent", agency["id"])
    integration = run_json(
        runner,
        "integration",
        "create",
        "--account",
        sub["id"],
        "--name",
        "Zapier",
        "--description",
        "sync",
        "--scope",
        "contacts.readonly",
        "--scope",
        "contacts.write",
        "--inactivity-window",
        "30d",
    )
    return agency, sub, integration


def test_account_and_integration_create(setup):
    agency, sub, integration = setup
    assert agency["id"].startswith("acc_") and agency["parent_id"] is None
    assert sub["parent_id"] == agency["id"]
    assert integration["scopes"] == ["contacts.readonly", "contacts.write"]
    assert integration["inactivity_window"] == 30 * 86400 and integration["account_id"] == sub["id"]


def test_user_create_reads_the_password_from_stdin(runner, setup):
    agency, _, _ = setup
    user = run_json(
        runner,
        "user",
        "create",
        "--account",
        agency["id"],
        "--email",
        "Ada@Example.com",
        "--role",
        "admin",
        "--password-stdin",
        input="correct horse battery\n",
    )
    assert user["email"] == "ada@example.com" and user["role"] == "admin" and user["id"].startswith("usr_")


@pytest.mark.parametrize("kind", ["resource-service", "admin"])
def test_client_create_shows_the_secret_once(runner, setup, kind):
    agency, _, _ = setup
    extra = ["--account", agency["id"]] if kind == "admin" else []
    client = run_json(runner, "client", "create", "--name", "svc", "--kind", kind, *extra)
    assert client["client_id"].startswith("cli_") and len(client["client_secret"]) >= 43
    assert client["kind"] == kind


def test_integration_list_disable_enable_set_scopes_and_delete(runner, setup):
    _, sub, integration = setup
    listed = run_json(runner, "integration", "list", "--account", sub["id"])
    assert [i["id"] for i in listed["integrations"]] == [integration["id"]]
    assert run_json(runner, "integration", "disable", integration["id"])["status"] == "disabled"
    assert run_json(runner, "integration", "enable", integration["id"])["status"] == "active"
    changed = run_json(runner, "integration", "set-scopes", integration["id"], "--scope", "contacts.readonly")
    assert changed["scopes"] == ["contacts.readonly"]
    assert run_json(runner, "integration", "delete", integration["id"]) == {
        "id": integration["id"],
        "status": "deleted",
    }
    assert run_json(runner, "integration", "list", "--account", sub["id"]) == {"integrations": []}


def test_token_lifecycle_from_the_cli(runner, setup, clock):
    _, _, integration = setup
    iid = integration["id"]
    first = run_json(runner, "token", "generate", iid, "--expires-in", "90d")
    assert first["token"].count(".") == 2 and first["token_id"].startswith("tok_")
    assert first["expires_at"] == isoformat(clock.now() + timedelta(days=90))
    assert first["expires_if_unused_after"] == isoformat(clock.now() + timedelta(days=30))
    second = run_json(runner, "token", "rotate", iid, "--grace", "2d")
    third = run_json(runner, "token", "rotate", iid, "--grace-until", isoformat(clock.now() + timedelta(hours=5)))
    fourth = run_json(runner, "token", "rotate", iid, "--now")
    listed = run_json(runner, "token", "list", iid)["tokens"]
    statuses = {t["token_id"]: t["status"] for t in listed}
    assert statuses == {
        first["token_id"]: "rotated",
        second["token_id"]: "rotated",
        third["token_id"]: "rotated",
        fourth["token_id"]: "active",
    }
    fifth = run_json(runner, "token", "rotate", iid)  # default: 7 days of grace
    grace = [t for t in run_json(runner, "token", "list", iid)["tokens"] if t["status"] == "grace"]
    assert [(t["token_id"], t["ends_at"]) for t in grace] == [
        (fourth["token_id"], isoformat(clock.now() + timedelta(days=7)))
    ]
    assert run_json(runner, "token", "expire", iid, "--token", fourth["token_id"]) == {"expired": [fourth["token_id"]]}
    scheduled = run_json(runner, "token", "expire", iid, "--at", isoformat(clock.now() + timedelta(hours=1)))
    assert scheduled["token_id"] == fifth["token_id"]
    assert scheduled["ends_at"] == isoformat(clock.now() + timedelta(hours=1))
    assert run_json(runner, "token", "expire", iid) == {"expired": [fifth["token_id"]]}


def test_token_expire_inactive_twice_is_idempotent(runner, setup, clock):
    _, _, integration = setup
    issued = run_json(runner, "token", "generate", integration["id"])
    clock.advance(30 * 86400)
    assert run_json(runner, "token", "expire-inactive") == {"expired": [issued["token_id"]]}
    assert run_json(runner, "token", "expire-inactive") == {"expired": []}
    [token] = run_json(runner, "token", "list", integration["id"])["tokens"]
    assert token["status"] == "expired_inactive"


def test_keys_rotate_and_list(runner, app, clock):
    before = run_json(runner, "keys", "list")["keys"]
    clock.advance(1)
    rotated = run_json(runner, "keys", "rotate")
    signs_from = isoformat(clock.now() + timedelta(seconds=300))  # the JWKS max-age: caches have the key first
    assert rotated == {"kid": rotated["kid"], "state": "pending", "signs_from": signs_from}
    keys = {k["kid"]: k for k in run_json(runner, "keys", "list")["keys"]}
    assert keys[rotated["kid"]]["state"] == "pending" and keys[rotated["kid"]]["published"]
    [old] = before
    assert keys[old["kid"]]["state"] == "active" and keys[old["kid"]]["retired_at"] == signs_from
    emergency = run_json(runner, "keys", "rotate", "--now")
    assert emergency == {"kid": emergency["kid"], "state": "active", "signs_from": isoformat(clock.now())}
    keys = {k["kid"]: k for k in run_json(runner, "keys", "list")["keys"]}
    assert [keys[kid]["state"] for kid in (old["kid"], rotated["kid"], emergency["kid"])] == [
        "retired",
        "retired",
        "active",
    ]
    assert keys[old["kid"]]["retired_at"] == isoformat(clock.now()) and keys[emergency["kid"]]["current"]
    assert keys[emergency["kid"]]["private_key_present"]
    assert not keys[rotated["kid"]]["private_key_present"]  # never signed, never will: its private key is gone
    revoked = run_json(runner, "keys", "revoke", emergency["kid"])
    assert revoked["state"] == "revoked" and revoked["replaced_by"] not in (None, emergency["kid"])


def test_keys_revoke_reads_a_kid_that_starts_with_a_dash_as_the_kid(runner, app):
    """Kids are base64url thumbprints: one in 64 starts with "-" (CI once drew one and click read it as options)."""
    result = runner.invoke(args=["keys", "revoke", "-OPapBfyL0ZJneltiOxPERFig8SARQGVOGayV-Y4EuM", "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stderr)["error"]
    assert error["code"] != "usage" and "-OPapBfyL0ZJneltiOxPERFig8SARQGVOGayV-Y4EuM" in error["detail"]
    typo = runner.invoke(args=["keys", "revoke", "somekid", "--jsn"])
    assert typo.exit_code == 2  # an unknown option after the kid is still a usage error, not a second kid


def test_audit_list_as_json_and_csv_with_filters(runner, setup):
    _, sub, integration = setup
    run_json(runner, "token", "generate", integration["id"])
    events = run_json(runner, "audit", "list", "--account", sub["id"])["events"]
    assert [e["action"] for e in events] == ["token.generated", "integration.created", "account.created"]
    assert all(e["actor"] == {"type": "operator", "id": "cli"} for e in events)
    only = run_json(runner, "audit", "list", "--account", sub["id"], "--action", "token.generated")["events"]
    assert [e["action"] for e in only] == ["token.generated"]
    result = runner.invoke(args=["audit", "list", "--account", sub["id"], "--format", "csv", "--limit", "2"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["action"] for r in rows] == ["token.generated", "integration.created"]
    as_json = runner.invoke(args=["audit", "list", "--account", sub["id"], "--format", "json"])
    assert json.loads(as_json.stdout)["events"] == events


def test_db_upgrade_and_init_are_idempotent(runner, app):
    assert run_json(runner, "db", "upgrade")["status"] == "ok"  # plus from, to and the revisions applied
    first = run_json(runner, "init")
    second = run_json(runner, "init")
    assert first["current_kid"] == second["current_kid"] and first["current_kid"]


def test_text_output_is_for_people(runner, setup):
    _, _, integration = setup
    result = runner.invoke(args=["token", "generate", integration["id"]])
    assert result.exit_code == 0 and "shown only once" in result.stdout


BAD_ARGUMENTS = [
    (["account", "create"], "--name"),
    (["account", "create", "--name", ""], "name"),
    (["account", "create", "--name", "X", "--parent", "acc_nope"], "not found"),
    (["account", "create", "--name", "X", "--bogus"], "--bogus"),
    (
        ["user", "create", "--account", "{agency}", "--email", "not-an-email", "--role", "admin", "--password-stdin"],
        "email",
    ),
    (["user", "create", "--account", "{agency}", "--email", "a@b.c", "--role", "owner", "--password-stdin"], "owner"),
    (
        ["user", "create", "--account", "{agency}", "--email", "a@b.c", "--role", "admin", "--password-stdin"],
        "password",
    ),
    (["client", "create", "--name", "x", "--kind", "superuser"], "superuser"),
    (["client", "create", "--name", "x", "--kind", "admin"], "account"),
    (["integration", "create", "--account", "{sub}", "--name", "x", "--scope", "contacts.admin"], "scope"),
    (["integration", "create", "--account", "{sub}", "--name", "x"], "--scope"),
    (
        [
            "integration",
            "create",
            "--account",
            "{sub}",
            "--name",
            "x",
            "--scope",
            "contacts.readonly",
            "--inactivity-window",
            "tomorrow",
        ],
        "inactivity-window",
    ),
    (["integration", "disable", "int_nope"], "not found"),
    (["integration", "set-scopes", "{integration}", "--scope", "nope.nope"], "scope"),
    (["token", "generate", "{integration}", "--expires-in", "forever"], "expires-in"),
    (["token", "rotate", "{integration}", "--now", "--expires-in", "10s"], "expires_in"),
    (["token", "generate", "int_nope"], "not found"),
    (["token", "generate", "{integration}"], "rotate"),
    (["token", "rotate", "{integration}", "--grace", "10m"], "grace"),
    (["token", "rotate", "{integration}", "--now", "--grace", "1h"], "--now"),
    (["token", "rotate", "{integration}", "--grace-until", "someday"], "grace-until"),
    (["token", "expire", "{integration}", "--at", "2001-01-01T00:00:00Z"], "future"),
    (["token", "expire", "{integration}", "--token", "tok_nope"], "tok_nope"),
    (["token", "list", "int_nope"], "not found"),
    (["token", "frobnicate"], "frobnicate"),
    (["audit", "list"], "--account"),
    (["audit", "list", "--account", "acc_nope"], "not found"),
    (["audit", "list", "--account", "{agency}", "--limit", "0"], "limit"),
    (["audit", "list", "--account", "{agency}", "--format", "xml"], "xml"),
    (["keys", "rotate", "--force"], "--force"),
    (["run", "--port", "eighty"], "--port"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_ARGUMENTS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_arguments_give_one_line_and_a_non_zero_exit(shared, argv, fragment):
    world = shared.world
    ids = {"agency": world.agency.account_id, "sub": world.sub.account_id, "integration": world.sub.integration_id}
    args = [arg.format(**ids) for arg in argv]
    json_flag = [] if args[0] == "run" else ["--json"]  # serving prints a banner, not an object
    result = shared.app.test_cli_runner().invoke(args=[*args, *json_flag], input="short\n")
    assert_one_line_error(result, fragment)
    assert result.stdout == ""  # nothing half-done was printed as if it had worked
