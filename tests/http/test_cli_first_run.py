"""The first run of the ``authserver`` command (issue 17 §7): its version, its own options only, and the issuer
recorded at init so that a command line or server with another AUTHSERVER_ISSUER refuses to mint tokens that every
resource service would reject. Through the real entry point (``python -m authserver``) in real processes."""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
import subprocess
import sys

import click
import jwt
import pytest
import requests

from authserver import create_app
from authserver.integrations import DEFAULT_GRACE
from tests.support.config import make_app_config
from tests.support.servers import ROOT, AuthServerProcess, make_authserver


def authserver(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (this interpreter, our own command)
        [sys.executable, "-m", "authserver", *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_version_prints_authservers_own_version_even_with_a_bad_setting(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AUTHSERVER_ISSUER": "ftp://nowhere"}  # would stop any command
    done = authserver("--version", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"authserver {importlib.metadata.version('authserver')}\n"
    assert "Flask" not in done.stdout and "Python" not in done.stdout


def test_help_offers_none_of_flasks_options_or_commands(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}
    done = authserver("--help", env=env)
    assert done.returncode == 0, done.stderr
    for flask_own in ("--app", "--env-file", "--debug", "-A,", "-e,", "Show the Flask version", " routes ", " shell "):
        assert flask_own not in done.stdout
    assert "--version" in done.stdout and "token" in done.stdout
    unknown = authserver("routes", env=env)
    assert unknown.returncode == 2 and "No such command 'routes'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_flask_environment_variables_do_not_pick_another_app(tmp_path):
    """With FlaskGroup's options gone, FLASK_APP and FLASK_DEBUG are not read either."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "FLASK_APP": "no_such_module:create",
        "FLASK_DEBUG": "1",
    }
    assert authserver("init", "--json", env=env).returncode == 0
    done = authserver("keys", "list", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["keys"]) == 1


@pytest.fixture
def instance(tmp_path):
    """An initialised instance (issuer recorded) with an account and an integration, no server running."""
    server = make_authserver(tmp_path / "a")
    account, integration = server.cli_batch(
        ["account", "create", "--name", "Acme", "--json"],
        ["integration", "create", "--account", "{0[id]}", "--name", "Zapier", "--scope", "contacts.readonly",
         "--json"],
    )  # fmt: skip
    return server, integration["id"]


def issuer_rows(server: AuthServerProcess) -> tuple[list, list]:
    with sqlite3.connect(server.workdir / "authserver.db") as connection:
        recorded = connection.execute("SELECT name, value FROM instance_settings").fetchall()
        audited = connection.execute(
            "SELECT action, actor_type, before, after FROM audit_events WHERE target_type = 'instance' ORDER BY id"
        ).fetchall()
    return recorded, [(action, actor, json.loads(b) if b else None, json.loads(a)) for action, actor, b, a in audited]


def test_init_records_the_issuer_and_a_cli_with_another_refuses_to_mint_in_one_line(instance):
    server, integration_id = instance
    recorded_issuer = server.url
    other = f"http://localhost:{server.port}"  # the same server under another name: tokens would name it
    assert issuer_rows(server) == (
        [("issuer", recorded_issuer)],
        [("instance.issuer_recorded", "operator", None, {"issuer": recorded_issuer})],
    )

    for command in (["token", "generate", integration_id], ["token", "rotate", integration_id, "--now"]):
        line = one_line(authserver(*command, env=server.env | {"AUTHSERVER_ISSUER": other}))
        assert line.startswith("Error: ")
        assert f"AUTHSERVER_ISSUER is {other}" in line and f"name {recorded_issuer}" in line
        assert "authserver init --reset-issuer" in line
        as_json = json.loads(one_line(authserver(*command, "--json", env=server.env | {"AUTHSERVER_ISSUER": other})))
        assert as_json["error"]["code"] == "issuer_mismatch" and other in as_json["error"]["detail"]
    assert server.cli("token", "list", integration_id, "--json")["tokens"] == []  # nothing was minted

    # A trailing slash names the same issuer.
    minted = server.cli("token", "generate", integration_id, "--json", check=False)
    assert minted.returncode == 0
    slash = authserver(
        "token", "rotate", integration_id, "--json", env=server.env | {"AUTHSERVER_ISSUER": f"{recorded_issuer}/"}
    )
    assert slash.returncode == 0, slash.stderr
    assert jwt.decode(json.loads(slash.stdout)["token"], options={"verify_signature": False})["iss"] == recorded_issuer


def test_a_server_with_another_issuer_refuses_to_start_until_the_issuer_is_reset_on_purpose(instance):
    server, integration_id = instance
    old, new = server.url, f"http://localhost:{server.port}"
    moved = server.env | {"AUTHSERVER_ISSUER": new}
    for start in (["run", "--port", str(server.port)], ["serve", "--port", str(server.port), "--workers", "1"]):
        line = one_line(authserver(*start, env=moved))
        assert f"AUTHSERVER_ISSUER is {new}" in line and f"name {old}" in line and "--reset-issuer" in line
    again = one_line(authserver("init", env=moved))  # init does not change it silently either
    assert "--reset-issuer" in again
    assert json.loads(one_line(authserver("init", "--json", env=moved)))["error"]["code"] == "issuer_mismatch"

    reset = authserver("init", "--reset-issuer", "--json", env=moved)
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout).items() >= {"issuer": new, "previous_issuer": old}.items()
    recorded, audited = issuer_rows(server)
    assert recorded == [("issuer", new)]
    assert audited[-1] == ("instance.issuer_changed", "operator", {"issuer": old}, {"issuer": new})

    # Now the old setting is the one refused, and the server starts under the new issuer and mints with it.
    assert f"AUTHSERVER_ISSUER is {old}" in one_line(authserver("run", "--port", str(server.port), env=server.env))
    server.env = moved
    server.start()
    try:
        metadata = requests.get(f"{server.url}/.well-known/oauth-authorization-server", timeout=10).json()
        assert metadata["issuer"] == new
        token = server.cli("token", "generate", integration_id, "--json")["token"]
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == new
    finally:
        server.stop()


def test_the_first_start_records_the_issuer_when_init_never_ran(tmp_path):
    """A database made before this version (or a start without init): the first start records the issuer."""
    server = make_authserver(tmp_path / "a")
    with sqlite3.connect(server.workdir / "authserver.db") as connection:
        connection.execute("DELETE FROM instance_settings")
    server.start()
    server.stop()
    recorded, audited = issuer_rows(server)
    assert recorded == [("issuer", server.url)]
    assert audited[-1] == ("instance.issuer_recorded", "system", None, {"issuer": server.url})


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def _states_its_default(option: click.Option) -> bool:
    return bool(option.show_default) or "default" in (option.help or "").lower()


def test_every_command_and_option_has_help_and_every_optional_option_states_its_default(tmp_path):
    """Every option that may be left out says what happens then: click shows the default, or the text says it."""
    app = create_app(make_app_config(tmp_path, f"sqlite:///{tmp_path / 'a.db'}"))
    commands = dict(_commands(app.cli))
    assert len(commands) > 40
    undocumented = [" ".join(path) for path, command in commands.items() if not (command.help or command.short_help)]
    assert undocumented == []
    options = [
        (" ".join(path), option)
        for path, command in commands.items()
        for option in command.params
        if isinstance(option, click.Option) and option.name != "as_json"
    ]
    assert [(path, option.opts) for path, option in options if not option.help] == []
    silent = [
        (path, option.opts) for path, option in options if not option.required and not _states_its_default(option)
    ]
    assert silent == []


def test_token_rotate_help_says_the_old_token_is_kept_7_days_unless_now(tmp_path):
    assert DEFAULT_GRACE == 7 * 86400  # the figure the help text states
    done = authserver("token", "rotate", "--help", env={"PATH": "/usr/bin:/bin",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"})  # fmt: skip
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "the old one keeps working 7 days" in text and "unless --now" in text
    assert "--grace TEXT Keep the old token working this long (1h..30d). Default: 7d." in text


def test_a_command_before_init_says_to_run_init_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
           "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys")}  # fmt: skip
    line = one_line(authserver("account", "create", "--name", "Acme", env=env))
    assert line.startswith("Error: the database has no schema yet") and "run `authserver init` first" in line
    error = json.loads(one_line(authserver("keys", "list", "--json", env=env)))["error"]
    assert error["code"] == "no_schema" and "authserver init" in error["detail"]
