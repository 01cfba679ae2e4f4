"""Leaked-token auto-revocation: a secret scanner's signed alerts (GitHub's partner program format).

    alerts.py        the alert body: found tokens, where they were found; sizes bounded
    scanner_keys.py  the scanner's key document (AUTHSERVER_SECRET_SCANNING_KEYS_URL), fetched and cached
    signature.py     ECDSA P-256 / SHA-256 over the raw body, by the key the alert names
    leaks.py         the domain verb: ours or not, revoke what still works (TokenLeaked)
    notices.py       the account admins' mail, after the commit, off the request
    routes.py        POST /secret-scanning/alerts

Off (the endpoint answers 404) unless AUTHSERVER_SECRET_SCANNING_KEYS_URL is set. docs/secret-scanning.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from ..mail.smtp import MailSettings
from .notices import MailSender
from .scanner_keys import ScannerKeys

_KEY = "authserver.secret_scanning"


@dataclass
class SecretScanning:
    keys: ScannerKeys
    sender: MailSender | None  # None without AUTHSERVER_SMTP_URL: no mail, the webhook and audit entry only


def init_app(app: Flask) -> None:
    """The blueprint, and (when configured) the per-process key cache and mail sender; nothing is fetched yet."""
    from .routes import bp

    url = app.config.get("AUTHSERVER_SECRET_SCANNING_KEYS_URL")
    if url:
        settings = MailSettings.from_config(app.config)
        app.extensions[_KEY] = SecretScanning(ScannerKeys(url), MailSender(settings) if settings else None)
    app.register_blueprint(bp)


def scanning(app: Flask) -> SecretScanning | None:
    found: SecretScanning | None = app.extensions.get(_KEY)
    return found
