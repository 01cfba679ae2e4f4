"""What every ``authserver`` command shares: one-line usage errors, ``--json``, and the ``command`` decorator that
turns a domain error into one line on stderr and exit code 1."""

from __future__ import annotations

import functools
import json

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from ..config import ConfigError
from ..durations import parse_duration
from ..errors import DomainError
from ..extensions import db
from ..keys import KeyStoreError

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


def services():
    return current_app.extensions["authserver"]


def now():
    return services().clock.now()


def emit(as_json: bool, payload: dict, text: str) -> None:
    click.echo(json.dumps(payload, default=str) if as_json else text)


def duration(value, field):
    return None if value is None else parse_duration(value, field=field)


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
