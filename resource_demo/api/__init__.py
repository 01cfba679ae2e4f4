"""The v2 API surface. Views parse input, take the account from the validated token, call one CRM function."""

from flask import Blueprint

bp = Blueprint("v2", __name__)

from . import calendars, contacts, ping  # noqa: E402,F401  (routes register on bp)
