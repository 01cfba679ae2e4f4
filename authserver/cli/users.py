"""``authserver user ...``: people who sign in to the admin UI; the password comes on stdin, never as an argument."""

from __future__ import annotations

import sys

import click

from ..principals import OPERATOR
from ..users import create_user
from .base import OneLineGroup, command, emit, json_option, now


@click.group("user", cls=OneLineGroup, help="People who sign in to the admin UI.")
def user_group():
    pass


@command(user_group, "create")
@click.option("--account", "account_id", required=True, help="The account the person belongs to.")
@click.option("--email", required=True, help="Their sign-in email address.")
@click.option(
    "--role",
    type=click.Choice(["admin", "member"]),
    required=True,
    help="admin changes things; member sees everything and changes nothing.",
)
@click.option("--password-stdin", is_flag=True, required=True, help="Required: read the password from standard input.")
@json_option
def user_create(account_id, email, role, password_stdin, as_json):
    """Add a person who signs in to the admin UI (the password is read from stdin, stored as an argon2id hash)."""
    password = sys.stdin.readline().rstrip("\n")
    user = create_user(OPERATOR, account_id=account_id, email=email, role=role, password=password, now=now())
    emit(as_json, {"id": user.id, "email": user.email, "account_id": account_id, "role": role}, user.id)
