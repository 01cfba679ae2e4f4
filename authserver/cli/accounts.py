"""``authserver account ...``: the agency and sub-account tree."""

from __future__ import annotations

import click

from ..accounts import create_account
from ..principals import OPERATOR
from .base import OneLineGroup, command, emit, json_option, now


@click.group("account", cls=OneLineGroup, help="Accounts (agencies and sub-accounts).")
def account_group():
    pass


@command(account_group, "create")
@click.option("--name", required=True)
@click.option("--parent", "parent_id", default=None, help="Parent (agency) account id.")
@json_option
def account_create(name, parent_id, as_json):
    account = create_account(OPERATOR, name=name, parent_id=parent_id, now=now())
    emit(as_json, {"id": account.id, "name": account.name, "parent_id": account.parent_id}, account.id)
