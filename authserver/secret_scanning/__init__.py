"""Leaked-token auto-revocation: a secret scanner's signed alerts (GitHub's partner program format).

    alerts.py        the alert body: found tokens, where they were found; sizes bounded
    scanner_keys.py  the scanner's key document (AUTHSERVER_SECRET_SCANNING_KEYS_URL), fetched and cached
    signature.py     ECDSA P-256 / SHA-256 over the raw body, by the key the alert names
    leaks.py         the domain verb: ours or not, revoke what still works (TokenLeaked)
    notices.py       the account admins' mail, after the commit, off the request
    state.py         what a serving process holds: the key cache and the mail sender
    routes.py        POST /secret-scanning/alerts

Off (the endpoint answers 404) unless AUTHSERVER_SECRET_SCANNING_KEYS_URL is set. docs/secret-scanning.md.
"""

from __future__ import annotations

from flask import Flask

from .routes import bp
from .state import install


def init_app(app: Flask) -> None:
    """The blueprint, and (when configured) the per-process key cache and mail sender; nothing is fetched yet."""
    install(app)
    app.register_blueprint(bp)
