"""The ``authserver`` command line: each command a few lines over a domain function, ``--json`` on every one."""

from __future__ import annotations

import functools
import json
import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import audit as audit_log
from . import integrations
from .accounts import create_account, get_account
from .config import ConfigError
from .database import prepare, upgrade
from .durations import isoformat, parse_duration, parse_instant
from .errors import DomainError
from .extensions import db
from .integrations import DEFAULT_GRACE, serialize_integration, serialize_token
from .keys import KeyStoreError, key_state
from .principals import OPERATOR, SYSTEM
from .users import create_user

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _one_line(exc: click.UsageError) -> click.ClickException:
    """Click shows a usage error as four lines (usage, hint, blank line, error); scripts get one, like every other
    error here. The exit code stays click's 2 for usage errors. A bare group (no subcommand) still shows its help."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return exc
    error = click.ClickException(f"{exc.format_message()} (see --help)")
    error.exit_code = exc.exit_code
    return error


class _OneLineUsageErrors:
    """Bad options and arguments (``make_context``) and unknown subcommands (``resolve_command``, groups only)."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise _one_line(exc) from None


class OneLineCommand(_OneLineUsageErrors, click.Command):
    """A command whose bad arguments are reported on one line."""


class OneLineGroup(_OneLineUsageErrors, click.Group):
    """A group whose bad arguments, unknown subcommands included, are reported on one line."""

    command_class = OneLineCommand


class OneLineFlaskGroup(_OneLineUsageErrors, FlaskGroup):
    """The ``authserver`` command itself: an unknown top-level command is one line too."""


def _services():
    return current_app.extensions["authserver"]


def _now():
    return _services().clock.now()


def emit(as_json: bool, payload: dict, text: str) -> None:
    click.echo(json.dumps(payload, default=str) if as_json else text)


def command(group, name, **kwargs):
    """A CLI command in an app context whose domain errors become one line on stderr and exit code 1."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kw):
            try:
                return func(*args, **kw)
            except (DomainError, KeyStoreError, ConfigError) as exc:
                db.session.rollback()
                detail = getattr(exc, "detail", str(exc))
                raise click.ClickException(detail) from None
            except click.UsageError as exc:
                raise _one_line(exc) from None

        return group.command(name, **kwargs)(with_appcontext(wrapper))

    return decorate


def _duration(value, field):
    return None if value is None else parse_duration(value, field=field)


@click.group("db", cls=OneLineGroup, help="Database schema.")
def db_group():
    pass


@command(db_group, "upgrade")
@json_option
def db_upgrade(as_json):
    """Apply migrations up to the newest revision."""
    upgrade(db.engine)
    emit(as_json, {"status": "ok"}, "database schema is up to date")


@click.command("init", cls=OneLineCommand)
@json_option
@with_appcontext
def init(as_json):
    """Create or upgrade the database and the signing keys (idempotent)."""
    try:
        prepare(current_app)
    except (KeyStoreError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    services = _services()
    payload = {"database": current_app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1],
               "keys_dir": str(services.keystore.directory),
               "current_kid": services.keystore.current_kid(services.clock.now())}
    emit(as_json, payload, f"ready: schema migrated, signing key {payload['current_kid']}")


@click.group("account", cls=OneLineGroup, help="Accounts (agencies and sub-accounts).")
def account_group():
    pass


@command(account_group, "create")
@click.option("--name", required=True)
@click.option("--parent", "parent_id", default=None, help="Parent (agency) account id.")
@json_option
def account_create(name, parent_id, as_json):
    account = create_account(OPERATOR, name=name, parent_id=parent_id, now=_now())
    emit(as_json, {"id": account.id, "name": account.name, "parent_id": account.parent_id}, account.id)


@click.group("user", cls=OneLineGroup, help="People who sign in to the admin UI.")
def user_group():
    pass


@command(user_group, "create")
@click.option("--account", "account_id", required=True)
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["admin", "member"]), required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
@json_option
def user_create(account_id, email, role, password_stdin, as_json):
    password = sys.stdin.readline().rstrip("\n")
    user = create_user(OPERATOR, account_id=account_id, email=email, role=role, password=password, now=_now())
    emit(as_json, {"id": user.id, "email": user.email, "account_id": account_id, "role": role}, user.id)


@click.group("integration", cls=OneLineGroup, help="Private integrations.")
def integration_group():
    pass


@command(integration_group, "create")
@click.option("--account", "account_id", required=True)
@click.option("--name", required=True)
@click.option("--description", default="")
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option("--inactivity-window", default=None, help="e.g. 90d, or 'never'.")
@json_option
def integration_create(account_id, name, description, scopes, inactivity_window, as_json):
    window = "default" if inactivity_window is None else (
        None if inactivity_window == "never" else parse_duration(inactivity_window, field="inactivity-window"))
    integration = integrations.create_integration(OPERATOR, account_id=account_id, name=name,
                                                  description=description, scopes=list(scopes), now=_now(),
                                                  inactivity_window=window)
    emit(as_json, serialize_integration(integration), integration.id)


@command(integration_group, "list")
@click.option("--account", "account_id", required=True)
@json_option
def integration_list(account_id, as_json):
    rows = [serialize_integration(i) for i in integrations.list_integrations(OPERATOR, account_id)]
    text = "\n".join(f"{r['id']}  {r['status']:8}  {r['name']}  [{' '.join(r['scopes'])}]" for r in rows)
    emit(as_json, {"integrations": rows}, text or "(no integrations)")


@command(integration_group, "disable")
@click.argument("integration_id")
@json_option
def integration_disable(integration_id, as_json):
    integration = integrations.set_status(OPERATOR, integration_id, "disabled", now=_now())
    emit(as_json, serialize_integration(integration), f"{integration.id} disabled; its tokens stopped working")


@command(integration_group, "enable")
@click.argument("integration_id")
@json_option
def integration_enable(integration_id, as_json):
    integration = integrations.set_status(OPERATOR, integration_id, "active", now=_now())
    emit(as_json, serialize_integration(integration), f"{integration.id} enabled")


@command(integration_group, "delete")
@click.argument("integration_id")
@json_option
def integration_delete(integration_id, as_json):
    integrations.set_status(OPERATOR, integration_id, "deleted", now=_now())
    emit(as_json, {"id": integration_id, "status": "deleted"}, f"{integration_id} deleted")


@command(integration_group, "set-scopes")
@click.argument("integration_id")
@click.option("--scope", "scopes", multiple=True, required=True)
@json_option
def integration_set_scopes(integration_id, scopes, as_json):
    integration = integrations.update_integration(OPERATOR, integration_id, now=_now(), scopes=list(scopes))
    emit(as_json, serialize_integration(integration), f"{integration.id}: {integration.scopes}")


@click.group("token", cls=OneLineGroup, help="Access tokens of private integrations.")
def token_group():
    pass


def _issued(as_json, issued):
    payload = serialize_token(issued.record, _now()) | {"token": issued.token}
    emit(as_json, payload, f"{issued.token}\n(token {issued.record.jti}, expires {payload['expires_at']}; "
                           "it is shown only once)")


@command(token_group, "generate")
@click.argument("integration_id")
@click.option("--expires-in", default=None, help="Lifetime, e.g. 90d.")
@json_option
def token_generate(integration_id, expires_in, as_json):
    services = _services()
    issued = integrations.generate_token(OPERATOR, integration_id, generator=services.generator, now=_now(),
                                         expires_in=_duration(expires_in, "expires-in"), **services.lifetimes())
    _issued(as_json, issued)


@command(token_group, "rotate")
@click.argument("integration_id")
@click.option("--grace", default=None, help="Keep the old token working this long (1h..30d), e.g. 7d.")
@click.option("--grace-until", default=None, help="...or until this ISO 8601 time.")
@click.option("--now", "immediately", is_flag=True, help="Stop the old token at once.")
@click.option("--expires-in", default=None)
@json_option
def token_rotate(integration_id, grace, grace_until, immediately, expires_in, as_json):
    services, now = _services(), _now()
    common = dict(generator=services.generator, now=now, expires_in=_duration(expires_in, "expires-in"),
                  **services.lifetimes())
    if immediately:
        if grace or grace_until:
            raise click.UsageError("--now cannot be combined with --grace or --grace-until")
        issued = integrations.rotate_now(OPERATOR, integration_id, **common)
    else:
        if grace_until:
            until = parse_instant(grace_until, field="grace-until")
        else:
            until = now + timedelta(seconds=_duration(grace, "grace") or DEFAULT_GRACE)
        issued = integrations.rotate_with_grace(OPERATOR, integration_id, grace_until=until, **common)
    _issued(as_json, issued)


@command(token_group, "expire")
@click.argument("integration_id")
@click.option("--at", "at", default=None, help="Schedule the end (ISO 8601) instead of now.")
@click.option("--token", "jti", default=None, help="Only this token id (e.g. the grace token).")
@json_option
def token_expire(integration_id, at, jti, as_json):
    now = _now()
    if at:
        row = integrations.expire_later(OPERATOR, integration_id, now=now, at=parse_instant(at, field="at"))
        emit(as_json, serialize_token(row, now), f"token {row.jti} will stop working at {isoformat(row.ends_at)}")
    else:
        rows = integrations.expire_now(OPERATOR, integration_id, now=now, jti=jti)
        emit(as_json, {"expired": [r.jti for r in rows]}, f"{len(rows)} token(s) stopped working")


@command(token_group, "list")
@click.argument("integration_id")
@json_option
def token_list(integration_id, as_json):
    now = _now()
    rows = [serialize_token(r, now) | {"status": integrations.token_status(r, now)}
            for r in integrations.list_tokens(OPERATOR, integration_id)]
    text = "\n".join(f"{r['token_id']}  {r['status']:16}  issued {r['issued_at']}  expires {r['expires_at']}  "
                     f"unused-expiry {r['expires_if_unused_after'] or 'never'}" for r in rows)
    emit(as_json, {"tokens": rows}, text or "(no tokens)")


@command(token_group, "expire-inactive")
@json_option
def token_expire_inactive(as_json):
    """Mark tokens idle past their window as expired (idempotent; run it from cron)."""
    expired = integrations.expire_inactive(SYSTEM, now=_now())
    emit(as_json, {"expired": expired}, f"{len(expired)} inactive token(s) expired")


@click.group("keys", cls=OneLineGroup, help="Signing keys.")
def keys_group():
    pass


@command(keys_group, "rotate")
@click.option("--now", "immediate", is_flag=True,
              help="Emergency: sign with the new key at once (default: after the JWKS pre-publication window).")
@json_option
def keys_rotate(immediate, as_json):
    """Add a signing key: published at once, signing after AUTHSERVER_KEY_PREPUBLISH (or at once with --now)."""
    keystore, now = _services().keystore, _now()
    row = keystore.rotate(now, immediate=immediate)
    db.session.commit()
    keystore.remove_spent_key_files(now)
    state = key_state(row, now)
    emit(as_json, {"kid": row.kid, "state": state, "signs_from": isoformat(row.signs_from)},
         f"new signing key {row.kid} ({state}), signing from {isoformat(row.signs_from)}; "
         "older public keys stay published while needed")


@command(keys_group, "revoke")
@click.argument("kid")
@json_option
def keys_revoke(kid, as_json):
    """Every token KID signed becomes inactive at once and the key leaves the JWKS (rotates first if it signs)."""
    keystore, now = _services().keystore, _now()
    row, replacement = keystore.revoke(kid, OPERATOR, now)
    db.session.commit()
    keystore.remove_spent_key_files(now)
    payload = {"kid": row.kid, "state": key_state(row, now), "revoked_at": isoformat(row.revoked_at),
               "replaced_by": replacement.kid if replacement else None}
    emit(as_json, payload, f"signing key {row.kid} revoked; every token it signed is inactive"
         + (f"; new signing key {replacement.kid}" if replacement else ""))


@command(keys_group, "list")
@json_option
def keys_list(as_json):
    """Every signing key with its state (pending, active, retired, revoked) and dates."""
    keystore, now = _services().keystore, _now()
    keystore.remove_spent_key_files(now)
    rows = [dict(r, **{name: isoformat(r[name]) for name in ("created_at", "signs_from", "retired_at", "revoked_at")})
            for r in keystore.list_keys(now)]
    text = "\n".join(f"{r['kid']}  {r['alg']:6}  {r['state']:8}  "
                     f"{'published' if r['published'] else 'unpublished'}" for r in rows)
    emit(as_json, {"keys": rows}, text or "(no keys)")


@click.group("audit", cls=OneLineGroup, help="The audit log.")
def audit_group():
    pass


@command(audit_group, "list")
@click.option("--account", "account_id", required=True)
@click.option("--action", default=None)
@click.option("--target", "target_id", default=None)
@click.option("--limit", default=100, type=click.IntRange(1, 1000))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text")
@json_option
def audit_list(account_id, action, target_id, limit, fmt, as_json):
    account = get_account(account_id)  # a mistyped id is an error, not an empty log
    rows = audit_log.list_events([account.id], action=action, target_id=target_id, limit=limit)
    if fmt == "csv":
        click.echo(audit_log.to_csv(rows), nl=False)
        return
    payload = {"events": [audit_log.serialize(r) for r in rows]}
    text = "\n".join(f"{e['occurred_at']}  {e['action']:32} {e['actor']['type']}:{e['actor']['id']}  "
                     f"{e['target']['type']}:{e['target']['id']}" for e in payload["events"])
    emit(as_json or fmt == "json", payload, text or "(no events)")


@click.command("run", cls=OneLineCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Default: the port of AUTHSERVER_ISSUER (5000).")
@with_appcontext
def run(host, port):
    """Start the server (migrates the schema and creates keys on first start)."""
    from urllib.parse import urlsplit

    from .serving import serve

    issuer_port = urlsplit(current_app.config["AUTHSERVER_ISSUER"]).port
    if port is None:
        port = issuer_port or 5000
    elif issuer_port and port != issuer_port:
        click.echo(f"note: AUTHSERVER_ISSUER is {current_app.config['AUTHSERVER_ISSUER']} but the server listens "
                   f"on port {port}; tokens and metadata name the issuer URL", err=True)
    serve(current_app._get_current_object(), host, port)


@click.command("serve", cls=OneLineCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Default: the port of AUTHSERVER_ISSUER (5000).")
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="Default: AUTHSERVER_WORKERS (CPUs).")
@click.option("--threads", default=None, type=click.IntRange(1, 64), help="Per worker; default AUTHSERVER_THREADS.")
@with_appcontext
def serve(host, port, workers, threads):
    """Production serving: granian with pre-forked worker processes (migrates and creates keys first)."""
    from urllib.parse import urlsplit

    from .serving import serve_workers

    config = current_app.config
    port = port or urlsplit(config["AUTHSERVER_ISSUER"]).port or 5000
    serve_workers(current_app._get_current_object(), host, port, workers=workers or config["AUTHSERVER_WORKERS"],
                  threads=threads or config["AUTHSERVER_THREADS"])


def register(app) -> None:
    from .cli_clients import client_group
    from .cli_migration import migrate_group, v1_key_group
    from .cli_webhooks import webhooks_group

    for cmd in (init, db_group, account_group, user_group, client_group, integration_group, token_group,
                keys_group, audit_group, run, serve, webhooks_group, migrate_group, v1_key_group):
        app.cli.add_command(cmd)


def main() -> None:
    from . import create_app

    def factory():
        try:
            return create_app()
        except (ConfigError, KeyStoreError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    OneLineFlaskGroup(create_app=factory, add_default_commands=False, load_dotenv=False,
               set_debug_flag=False, help="authserver: private integrations and their access tokens.")(
        prog_name="authserver")
