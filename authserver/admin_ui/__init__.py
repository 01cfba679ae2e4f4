"""Server-rendered admin pages: sign-in, the account switcher and Settings → Private Integrations.

Each view parses a form, asks who is signed in, calls one domain function and renders a template; the rules live
in the domain, exactly as for the JSON API and the CLI.
"""

from flask import Blueprint

from ..limits.signin import SignInLimiter

bp = Blueprint("admin_ui", __name__)


@bp.record_once
def _install_limiter(state) -> None:
    state.app.extensions.setdefault("authserver_signin_limiter", SignInLimiter())


from . import guard, integrations, signin, token_actions  # noqa: E402,F401  (register the views on bp)
from . import client_pages, migration_pages, webhook_pages  # noqa: E402,F401  (clients, v1 keys, webhooks)
