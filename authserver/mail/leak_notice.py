"""The leaked-token notice: a secret scanner found an access token in public and it was revoked. It names the
account, the integration, where the token was found and when it stopped, and links to the integration's page;
never the token itself (the page and the audit trail name which one)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from html import escape

from .compose import admin_message, when


def leak_notice(
    *,
    sender: str,
    recipients: list[str],
    account_name: str,
    integration_name: str,
    url: str,
    source: str,
    revoked_at: datetime,
    page_url: str,
    now: datetime,
) -> EmailMessage:
    where = url or "a place the scanner did not name"
    found = f"{where} (found in {source})" if source else where
    subject = f"Access token leaked and revoked: {integration_name} ({account_name})"
    advice = (
        "Anything still using the token now gets 401 Unauthorized. Generate a new token on the integration's page, "
        "hand it to the integration's developer through a private channel, and remove the leaked one from where "
        "it was found (and from its history)."
    )
    text = (
        f"Hello,\n\n"
        f'In {account_name}, an access token of the private integration "{integration_name}" was found in public '
        f"by a secret scanner, and revoked at {when(revoked_at)}.\n\n"
        f"Where it was found: {found}\n\n"
        f"{advice}\n\n"
        f"Open the integration: {page_url}\n\n"
        f"You receive this because you are an admin of {account_name}.\n"
    )
    html = (
        '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
        f"<p>Hello,</p><p>In <strong>{escape(account_name)}</strong>, an access token of the private integration "
        f"<strong>{escape(integration_name)}</strong> was found in public by a secret scanner, and revoked at "
        f"{escape(when(revoked_at))}.</p>"
        f"<p>Where it was found: <code>{escape(found)}</code></p>"
        f"<p>{escape(advice)}</p>"
        f'<p><a href="{escape(page_url, quote=True)}">Open the integration</a></p>'
        f'<p style="color:#666;font-size:90%">You receive this because you are an admin of {escape(account_name)}.</p>'
        "</body></html>"
    )
    return admin_message(subject=subject, sender=sender, recipients=recipients, now=now, text=text, html=html)
