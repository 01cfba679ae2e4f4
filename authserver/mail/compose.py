"""The expiry warning: plain text and a minimal HTML part. It names the account, the integration, what happens
and when, and links to the integration's page; never a token, nor a token id (the page shows which token)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html import escape

# What each kind of notice says will happen at the deadline.
_WHAT = {
    "inactivity": (
        "Token expires if unused",
        "its access token expires at {deadline} unless it is used before then (it has not been used for a while)",
    ),
    "grace": (
        "Old token's grace period ends",
        "the previous access token, replaced at rotation, stops working at {deadline} when its grace period ends",
    ),
}
KINDS = frozenset(_WHAT)


def when(moment: datetime) -> str:
    return moment.strftime("%-d %b %Y, %H:%M UTC")


def expiry_notice(
    *,
    sender: str,
    recipients: list[str],
    kind: str,
    account_name: str,
    integration_name: str,
    deadline: datetime,
    page_url: str,
    now: datetime,
) -> EmailMessage:
    title, what = _WHAT[kind]
    deadline_text = when(deadline)
    sentence = what.format(deadline=deadline_text)
    subject = f"{title}: {integration_name} ({account_name})"
    text = (
        f"Hello,\n\n"
        f'In {account_name}, the private integration "{integration_name}": {sentence}.\n\n'
        f"{_advice(kind)}\n\n"
        f"Open the integration: {page_url}\n\n"
        f"You receive this because you are an admin of {account_name}.\n"
    )
    html = (
        '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
        f"<p>Hello,</p><p>In <strong>{escape(account_name)}</strong>, the private integration "
        f"<strong>{escape(integration_name)}</strong>: {escape(sentence)}.</p>"
        f"<p>{escape(_advice(kind))}</p>"
        f'<p><a href="{escape(page_url, quote=True)}">Open the integration</a></p>'
        f'<p style="color:#666;font-size:90%">You receive this because you are an admin of {escape(account_name)}.</p>'
        "</body></html>"
    )
    return admin_message(subject=subject, sender=sender, recipients=recipients, now=now, text=text, html=html)


def admin_message(
    *, subject: str, sender: str, recipients: list[str], now: datetime, text: str, html: str
) -> EmailMessage:
    """The envelope every notice to account admins shares: one line of subject, a Message-ID of the sender's
    domain, marked auto-generated (RFC 3834: no auto-replies), text with an HTML alternative."""
    message = EmailMessage()
    message["Subject"] = subject.replace("\n", " ").replace("\r", " ")[:200]
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _advice(kind: str) -> str:
    if kind == "inactivity":
        return (
            "If the integration is still in use, nothing is needed: its next call keeps the token alive. "
            "If not, let it expire."
        )
    return "Make sure the integration has switched to its new token before then."
