"""What every ``authserver`` command shares: one-line usage errors, ``--json``, and the ``command`` decorator that
makes a command one unit of work and turns a domain error into one line on stderr and exit code 1."""

from __future__ import annotations

import contextvars
import functools
import importlib.metadata
import json

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from ..config import ConfigError
from ..durations import parse_duration
from ..errors import DomainError
from ..httpbase import describe_database_error
from ..issuer import require_issuer
from ..keys import KeyStoreError
from ..principals import OPERATOR
from ..services import services
from ..unit_of_work import unit_of_work

__all__ = [
    "JsonError",
    "OneLineCommand",
    "OneLineFlaskGroup",
    "OneLineGroup",
    "authserver_version",
    "command",
    "duration",
    "emit",
    "json_option",
    "now",
    "require_minting_issuer",
    "services",
]

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _one_line(exc: click.UsageError) -> click.ClickException:
    """Click shows a usage error as four lines (usage, hint, blank line, error); scripts get one, like every other
    error here. The exit code stays click's 2 for usage errors. A bare group (no subcommand) still shows its help."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return exc
    error = click.ClickException(f"{exc.format_message()} (see --help)")
    error.exit_code = exc.exit_code  # type: ignore[misc]  # click types it a ClassVar; an instance may override it
    return error


class JsonError(click.ClickException):
    """An error under ``--json``: its one line on stderr is a JSON object, ``{"error": {"code", "detail",
    "field"}}``; stdout stays empty, as for every failed command, and the exit code is the same as without."""

    def __init__(self, detail: str, *, code: str, field: str | None = None, exit_code: int = 1) -> None:
        super().__init__(detail)
        self.code, self.field = code, field
        self.exit_code = exit_code  # type: ignore[misc]  # as in _one_line

    def show(self, file=None) -> None:
        error = {"code": self.code, "detail": self.message, "field": self.field}
        click.echo(json.dumps({"error": error}, ensure_ascii=False), err=True)


def _as_json_error(exc: click.ClickException, *, code: str, field: str | None = None) -> click.ClickException:
    return JsonError(exc.format_message(), code=code, field=field, exit_code=exc.exit_code)


class _OneLineUsageErrors:
    """Bad options and arguments (``make_context``) and unknown subcommands (``resolve_command``, groups only)."""

    def make_context(self, info_name, args, parent=None, **extra):
        wants_json = "--json" in args
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            error = _one_line(exc)
            raise (_as_json_error(error, code="usage") if wants_json else error) from None

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


# FlaskGroup's own options: ``main`` builds the app itself, so they would only mislead (``--app`` loads another
# app, ``--version`` names Flask's version). FLASK_* variables are not read either: no auto_envvar_prefix.
_FLASK_OPTIONS = frozenset({"env_file", "app", "debug", "version"})


def authserver_version() -> str:
    """The installed distribution's version (pyproject.toml), as ``pip show authserver`` reports it."""
    try:
        return importlib.metadata.version("authserver")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class OneLineFlaskGroup(_OneLineUsageErrors, FlaskGroup):
    """The ``authserver`` command itself: an unknown top-level command is one line too; ``--version`` prints
    authserver's version, and none of Flask's own options (``--app``, ``--env-file``, ``--debug``) is offered."""

    def __init__(self, **extra) -> None:
        extra.setdefault("context_settings", {})["auto_envvar_prefix"] = None
        super().__init__(add_version_option=False, **extra)
        self.params = [param for param in self.params if param.name not in _FLASK_OPTIONS]
        self.params.insert(
            0,
            click.Option(
                ["--version"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_print_version,
                help="Print authserver's version and exit.",
            ),
        )


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"authserver {authserver_version()}")
        ctx.exit()


# What a command has emitted while its unit of work is open: printed once it has committed.
_HELD: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("authserver_cli_held", default=None)


def now():
    return services().clock.now()


def require_minting_issuer() -> None:
    """Before a command mints a token: AUTHSERVER_ISSUER must be the issuer recorded for this instance (recorded
    now if none is yet), else the command stops with one line naming both (issuer.py)."""
    require_issuer(OPERATOR, current_app.config["AUTHSERVER_ISSUER"], now=now())


def emit(as_json: bool, payload: dict, text: str) -> None:
    """Print the result; inside a command's unit of work, only once it has committed, so a secret shown once
    (a token, a client secret) is never one that was rolled back."""
    line = json.dumps(payload, default=str) if as_json else text
    held = _HELD.get()
    if held is None:
        click.echo(line)
    else:
        held.append(line)


def duration(value, field):
    return None if value is None else parse_duration(value, field=field)


def _database_problem(exc: SQLAlchemyError) -> tuple[str, str]:
    """A first run before ``authserver init`` meets tables that do not exist (SQLite: "no such table", PostgreSQL:
    UndefinedTable); anything else is described as at start-up."""
    reason = str(getattr(exc, "orig", None) or exc.__class__.__name__).splitlines()[0]
    if "no such table" in reason or getattr(getattr(exc, "orig", None), "sqlstate", None) == "42P01":
        return "no_schema", f"the database has no schema yet ({reason}): run `authserver init` first"
    return "database_unavailable", f"{describe_database_error(exc)} ({reason}); check DATABASE_URL"


def command(group, name, *, transaction: bool = True, **kwargs):
    """A CLI command in an app context, and one unit of work: it commits all it did, then prints, or on an error
    rolls all of it back and prints one line on stderr with exit code 1. ``transaction=False`` is for a command
    that commits as it goes (the webhook worker) or must act after its commit (removing spent key files)."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kw):
            held: list[str] = []
            reset = _HELD.set(held if transaction else None)
            try:
                if transaction:
                    with unit_of_work():
                        result = func(*args, **kw)
                else:
                    result = func(*args, **kw)
            except (DomainError, KeyStoreError, ConfigError) as exc:
                detail = getattr(exc, "detail", str(exc))
                if kw.get("as_json"):
                    code = getattr(exc, "code", "invalid_input" if isinstance(exc, ConfigError) else "error")
                    raise JsonError(detail, code=code, field=getattr(exc, "field", None)) from None
                raise click.ClickException(detail) from None
            except click.UsageError as exc:
                error = _one_line(exc)
                raise (_as_json_error(error, code="usage") if kw.get("as_json") else error) from None
            except SQLAlchemyError as exc:  # no schema yet, or the database unreachable: one line, no traceback
                code, detail = _database_problem(exc)
                raise (JsonError(detail, code=code) if kw.get("as_json") else click.ClickException(detail)) from None
            finally:
                _HELD.reset(reset)
            for line in held:
                click.echo(line)
            return result

        return group.command(name, **kwargs)(with_appcontext(wrapper))

    return decorate
