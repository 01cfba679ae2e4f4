"""Every ``authserver`` command group, in the order ``--help`` lists them, and ``register`` to add them to an app."""

from __future__ import annotations

from flask import Flask

from .accounts import account_group
from .audit import audit_group
from .clients import client_group
from .db import db_group, init
from .integrations import integration_group
from .keys import keys_group
from .migration import migrate_group, v1_key_group
from .prune import prune_command
from .serving import run, serve
from .tokens import token_group
from .users import user_group
from .webhooks import webhooks_group

COMMANDS = (
    init,
    db_group,
    account_group,
    user_group,
    client_group,
    integration_group,
    token_group,
    keys_group,
    audit_group,
    prune_command,
    run,
    serve,
    webhooks_group,
    migrate_group,
    v1_key_group,
)


def register(app: Flask) -> None:
    """``create_app`` calls this, so ``flask --app app ...``, ``authserver ...`` and test runners see one CLI."""
    for cmd in COMMANDS:
        app.cli.add_command(cmd)
