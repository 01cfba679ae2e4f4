"""The ``authserver`` command line: each command a few lines over a domain function, ``--json`` on every one.

One module per command group; ``base`` holds what they share and ``commands`` registers them on the app.
``main`` is the console script: it builds the app with ``create_app``, which registers the commands.
"""

from __future__ import annotations

import sys

import click

import authserver  # the package module, not its create_app: create_app registers this CLI, so it loads first

from ..config import ConfigError
from ..keys import KeyStoreError
from .base import OneLineFlaskGroup
from .commands import register

__all__ = ["main", "register"]


def create_app_or_exit():
    """The app the console script runs commands in; a bad setting is one line on stderr and exit code 1."""
    try:
        return authserver.create_app()
    except (ConfigError, KeyStoreError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


def main() -> None:
    OneLineFlaskGroup(
        create_app=create_app_or_exit,
        add_default_commands=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="authserver: private integrations and their access tokens.",
    )(prog_name="authserver")
