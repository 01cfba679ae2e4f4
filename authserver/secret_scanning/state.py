"""What one serving process holds for secret scanning: the scanner's key cache and the admins' mail sender."""

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


def install(app: Flask) -> None:
    """When configured, the per-process key cache and mail sender; nothing is fetched yet."""
    url = app.config.get("AUTHSERVER_SECRET_SCANNING_KEYS_URL")
    if url:
        settings = MailSettings.from_config(app.config)
        app.extensions[_KEY] = SecretScanning(ScannerKeys(url), MailSender(settings) if settings else None)


def scanning(app: Flask) -> SecretScanning | None:
    """The process's secret scanning state, or None when the feature is off."""
    found: SecretScanning | None = app.extensions.get(_KEY)
    return found
