"""Server-rendered admin pages: sign-in, the account switcher and Settings → Private Integrations.

Each view parses a form, asks who is signed in, calls one domain function in a unit of work and renders a
template; the rules live in the domain, exactly as for the JSON API and the CLI. Each page module adds its views
to the one blueprint (``blueprint.bp``); ``create_app`` registers it.
"""

from . import (  # noqa: F401
    account_pages,
    check_access,
    client_pages,
    guard,
    integrations,
    migration_pages,
    signin,
    token_actions,
    usage_pages,
    webhook_pages,
)
from .blueprint import bp

__all__ = ["bp"]
