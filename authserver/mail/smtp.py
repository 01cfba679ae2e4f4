"""Sending one message with smtplib: ``smtp://`` upgrades with STARTTLS when the server offers it, ``smtps://`` is
TLS from the first byte; every network step has a timeout. Failures become one ``MailError`` line, never with the
password in it."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

TIMEOUT = 15.0  # seconds for the connection and each command


class MailError(Exception):
    """A message could not be handed to the SMTP server (it will be tried again later)."""


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    tls: bool  # smtps://: TLS from the start
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: Any) -> MailSettings | None:
        """None when ``AUTHSERVER_SMTP_URL`` is unset (config.py has already checked its shape)."""
        url = config.get("AUTHSERVER_SMTP_URL")
        if not url:
            return None
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (465 if tls else 25),
            tls=tls,
            sender=config["AUTHSERVER_MAIL_FROM"],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def describe(self) -> str:
        """Where mail goes, for the start-up line (no credentials)."""
        return f"{'smtps' if self.tls else 'smtp'}://{self.host}:{self.port} from {self.sender}"


def send(settings: MailSettings, message: EmailMessage, *, timeout: float = TIMEOUT) -> list[str]:
    """Hand ``message`` to the server; returns the recipients it refused (the others got it, so it is not sent
    again). Raises MailError with a short reason when nobody got it."""
    context = ssl.create_default_context()
    try:
        if settings.tls:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
        else:
            connection = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with connection:
            connection.ehlo()
            if not settings.tls and connection.has_extn("starttls"):
                connection.starttls(context=context)
                connection.ehlo()
            if settings.username:
                connection.login(settings.username, settings.password or "")
            refused = connection.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(_reason(exc)) from None
    return sorted(refused)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code}: {text[:200]}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"
