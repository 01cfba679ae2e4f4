"""`authserver db current|history|upgrade|downgrade` and the start-up schema check, through the real command line
on SQLite and on a throwaway PostgreSQL database (issue 16 §6)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from authserver.schema import downgrade, history, read_state, upgrade
from tests.support.databases import ThrowawayPostgres, postgres_available
from tests.support.forkserver import run_python
from tests.support.servers import free_port

HEAD = history()[-1].id
AFTER_0009 = [revision.id for revision in history() if revision.id > "0009"]  # newest last


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'authserver.db'}"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    database = ThrowawayPostgres()
    yield database.url
    database.drop()


def environment(tmp_path: Path, database_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, AUTHSERVER_KEYS_DIR=str(tmp_path / "keys"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


# Several commands through the real entry point in one process (each process costs seconds of imports on a busy
# machine); each command gets its own exit code, stdout and stderr, and may set environment variables first.
_BATCH = """
import contextlib, io, json, os, sys
from authserver.cli import main
results = []
for argv, env in json.load(sys.stdin):
    os.environ.update(env)
    sys.argv = ["authserver", *argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def run_batch(env: dict, *commands: tuple[str, ...] | tuple[tuple[str, ...], dict]) -> list[Ran]:
    """Run each command (argv, or (argv, extra environment)) in order in one ``authserver`` process."""
    steps = [command if isinstance(command[-1], dict) else (command, {}) for command in commands]
    done = run_python(
        ["-c", _BATCH], env=env, cwd=Path(env["AUTHSERVER_KEYS_DIR"]).parent, input=json.dumps(steps), timeout=300
    )
    assert done.returncode == 0, done.stderr
    return [Ran(**result) for result in json.loads(done.stdout)]


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)

    def one_line_error(self, code: int = 1) -> str:
        """The failure was one line on stderr (under --json, a JSON error object) and exit ``code``, nothing on
        stdout, no traceback. Returns the message."""
        assert self.code == code, (self.stdout, self.stderr)
        assert self.stdout == ""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        if lines[0].startswith("{"):
            return json.loads(lines[0])["error"]["detail"]
        assert lines[0].startswith("Error: "), self.stderr
        return lines[0]


def set_revision(database_url: str, revision: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_current_and_history_follow_an_upgrade_from_an_empty_database(tmp_path, database_url):
    before, upgraded, current, listed, again, plain = run_batch(
        environment(tmp_path, database_url),
        ("db", "current", "--json"),
        ("db", "upgrade", "--json"),
        ("db", "current", "--json"),
        ("db", "history", "--json"),
        ("db", "upgrade", "--json"),
        ("db", "upgrade"),
    )

    assert before.json() == {"revision": None, "description": None, "is_head": False, "head": HEAD, "known": True}
    assert upgraded.json()["status"] == "ok"
    assert upgraded.json()["from"] is None and upgraded.json()["to"] == HEAD
    assert [step["revision"] for step in upgraded.json()["applied"]] == [revision.id for revision in history()]
    description = history()[-1].description
    assert current.json() == {"revision": HEAD, "description": description, "is_head": True, "head": HEAD,
                              "known": True}  # fmt: skip
    assert listed.json()["current"] == HEAD and listed.json()["head"] == HEAD
    rows = listed.json()["revisions"]
    assert [row["revision"] for row in rows] == [revision.id for revision in history()]
    assert all(row["applied"] for row in rows)
    assert [row["revision"] for row in rows if row["current"]] == [HEAD]
    assert again.json() == {"status": "ok", "from": HEAD, "to": HEAD, "applied": []}
    assert plain.code == 0 and plain.stdout.strip() == "database schema is up to date"


def test_downgrade_to_0009_and_upgrade_again_keeps_the_rows_the_migrations_keep(tmp_path, database_url):
    env = environment(tmp_path, database_url)
    init, account = run_batch(env, ("init", "--json"), ("account", "create", "--name", "Acme", "--json"))
    account_id = account.json()["id"]
    created, refused, unchanged, downgraded, current, listed = run_batch(
        env,
        ("integration", "create", "--account", account_id, "--name", "Zap", "--scope", "contacts.readonly", "--json"),
        ("db", "downgrade", "0009", "--json"),
        ("db", "current", "--json"),
        ("db", "downgrade", "0009", "--yes", "--json"),
        ("db", "current", "--json"),
        ("db", "history", "--json"),
    )

    line = refused.one_line_error()
    assert "--yes" in line and all(revision in line for revision in AFTER_0009)
    assert unchanged.json()["revision"] == HEAD  # nothing was undone without --yes
    assert downgraded.json()["from"] == HEAD and downgraded.json()["to"] == "0009"
    assert [step["revision"] for step in downgraded.json()["undone"]] == list(reversed(AFTER_0009))
    assert current.json()["revision"] == "0009" and current.json()["is_head"] is False
    rows = {row["revision"]: row for row in listed.json()["revisions"]}
    assert rows["0009"]["applied"] and rows["0009"]["current"]
    assert not any(rows[revision]["applied"] for revision in AFTER_0009)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        columns = [column[0] for column in connection.execute(text("SELECT * FROM integrations")).cursor.description]
    engine.dispose()
    assert "resources" not in columns  # 0010's column is gone: the downgrade really ran

    upgraded, at_head, listed_again, text_mode = run_batch(
        env,
        ("db", "upgrade", "--json"),
        ("db", "current", "--json"),
        ("integration", "list", "--account", account_id, "--json"),
        ("db", "downgrade", "0010", "--yes"),
    )

    assert [step["revision"] for step in upgraded.json()["applied"]] == AFTER_0009
    assert at_head.json()["is_head"] is True
    kept = [(row["id"], row["name"], row["scopes"]) for row in listed_again.json()["integrations"]]
    assert kept == [(created.json()["id"], "Zap", ["contacts.readonly"])]
    assert text_mode.code == 0 and text_mode.stdout.startswith("undid ")
    assert text_mode.stdout.strip().endswith("database schema is at 0010")


def test_unknown_revisions_and_wrong_directions_are_one_line_errors(tmp_path, database_url):
    results = run_batch(
        environment(tmp_path, database_url),
        ("db", "upgrade", "0009", "--json"),
        ("db", "upgrade", "nope", "--json"),
        ("db", "downgrade", "0099", "--yes", "--json"),
        ("db", "upgrade", "head~1"),
        ("db", "upgrade", "0005"),
        ("db", "downgrade", HEAD, "--yes"),
        (
            "db",
            "downgrade",
        ),
        ("db", "current", "--json"),
        ("db", "downgrade", "0009", "--json"),
    )
    upgraded, nope, missing, relative, older, newer, usage, current, nothing = results

    assert upgraded.json()["to"] == "0009"
    assert "unknown revision 'nope'" in nope.one_line_error()
    assert json.loads(nope.stderr)["error"]["code"] == "unknown_revision"
    assert "unknown revision '0099'" in missing.one_line_error()
    assert "unknown revision 'head~1'" in relative.one_line_error()
    assert "authserver db downgrade 0005" in older.one_line_error()
    assert f"authserver db upgrade {HEAD}" in newer.one_line_error()
    assert "REVISION" in usage.one_line_error(code=2)  # REVISION is required
    assert current.json()["revision"] == "0009"  # none of them changed anything
    # A downgrade to where the schema is undoes nothing, so it needs no --yes.
    assert nothing.json() == {"status": "ok", "from": "0009", "to": "0009", "undone": []}


def test_a_schema_newer_than_the_code_is_reported_and_refused(tmp_path, database_url):
    env = environment(tmp_path, database_url)
    run_batch(env, ("db", "upgrade", "--json"))[0].json()
    set_revision(database_url, "9999")  # as if a newer version had migrated it
    port = str(free_port())

    current, upgrade, downgrade, init, start = run_batch(
        env,
        ("db", "current", "--json"),
        ("db", "upgrade"),
        ("db", "downgrade", "0009", "--yes"),
        ("init",),
        (("run", "--port", port), {"AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}"}),
    )

    assert current.json() == {"revision": "9999", "description": None, "is_head": False, "head": HEAD,
                              "known": False}  # fmt: skip
    for refused in (upgrade, downgrade, init, start):
        line = refused.one_line_error()
        assert "9999" in line and "does not know" in line and f"authserver db downgrade {HEAD}" in line


def test_with_auto_migrate_off_a_start_on_an_old_schema_is_refused(tmp_path, database_url):
    env = environment(tmp_path, database_url)
    port = str(free_port())
    off = {"AUTHSERVER_AUTO_MIGRATE": "off", "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}"}
    results = run_batch(
        env,
        (("run", "--port", port), off),
        (("serve", "--port", port), off),
        (("db", "upgrade", "0009"), {}),
        (("run", "--port", port), off),
        (("serve", "--port", port), off),
        (("db", "current", "--json"), {}),
    )
    empty_run, empty_serve, _, old_run, old_serve, current = results

    for refused in (empty_run, empty_serve):
        line = refused.one_line_error()
        assert "empty" in line and f"needs {HEAD}" in line and "run `authserver db upgrade`" in line
    for refused in (old_run, old_serve):
        line = refused.one_line_error()
        assert "at revision 0009" in line and f"needs {HEAD}" in line and "run `authserver db upgrade`" in line
    assert current.json()["revision"] == "0009"  # the refused starts changed nothing


def test_init_migrates_even_with_auto_migrate_off(tmp_path, database_url):
    """`init` is the explicit release step (a migrate job): it migrates whatever AUTHSERVER_AUTO_MIGRATE says."""
    env = environment(tmp_path, database_url, AUTHSERVER_AUTO_MIGRATE="off")
    init, current = run_batch(env, ("init", "--json"), ("db", "current", "--json"))
    assert init.json()["current_kid"]
    assert current.json()["is_head"] is True


def test_every_downgrade_runs_from_head_to_base_and_back(database_url):
    """Each revision's downgrade, one step at a time, on both backends (SQLite through batch mode)."""
    engine = create_engine(database_url)
    try:
        upgrade(engine, timeout=30)
        for revision in reversed(["base", *[r.id for r in history()][:-1]]):
            assert len(downgrade(engine, revision, timeout=30).steps) == 1
            assert read_state(engine).current == (None if revision == "base" else revision)
        assert len(upgrade(engine, timeout=30).steps) == len(history())
        assert read_state(engine).is_head
    finally:
        engine.dispose()
