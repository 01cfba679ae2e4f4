"""Expiry warnings by email: before an idle token expires and before a grace period ends, the account's admins
(users with the admin role on the token's account) get one message per token, kind and deadline.

The deadlines are the webhook scan's (``webhooks.expiring.due_notices``: 24 hours before an idle deadline, 7 days
before a grace end). Each message is claimed before it is sent by a marker row in the outbox table
(``webhook_events``: type ``mail.token_expiring``, a unique ``dedup_key``, no deliveries, kept by retention like
the scan's own keys), committed first: two workers or a restarted server never send it twice. A send that fails
removes its marker, so the next pass tries again; a process killed between claim and send loses that message
(at most once, never twice).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .durations import isoformat
from .extensions import db
from .mail import compose
from .mail.smtp import MailError, MailSettings, send
from .models import Account, Integration, Membership, User, WebhookEvent
from .security import new_id
from .unit_of_work import unit_of_work
from .webhooks.expiring import DueNotice, due_notices

log = logging.getLogger("authserver.mail")
MARKER_TYPE = "mail.token_expiring"


@dataclass
class MailReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0  # already sent (or being sent) by this or another process, or nobody to send to


def send_due(now: datetime, settings: MailSettings, *, base_url: str) -> MailReport:
    """Mail every due warning not mailed yet; failures are logged and left for the next pass."""
    report = MailReport()
    for notice in due_notices(now):
        if notice.reason not in compose.KINDS:  # a scheduled end ("expire later") was chosen by an admin
            continue
        key = mail_key(notice)
        recipients = admin_emails(notice.token.account_id)
        if not recipients or _is_claimed(key):
            report.skipped += 1
            continue
        message = _message(notice, recipients, settings, base_url, now)
        integration_id = notice.token.integration_id
        if not _claim(notice, key, now, len(recipients)):
            report.skipped += 1
            continue
        db.session.rollback()  # hold no transaction (or SQLite lock) while waiting on the network
        try:
            refused = send(settings, message)
        except MailError as exc:
            _release(key)
            report.failed += 1
            log.warning("expiry mail for integration %s failed: %s; will retry", integration_id, exc)
            continue
        report.sent += 1
        if refused:
            log.warning("expiry mail for integration %s: %d recipient(s) refused", integration_id, len(refused))
    return report


def mail_key(notice: DueNotice) -> str:
    return f"mail.expiring:{notice.token.jti}:{notice.reason}:{int(notice.deadline.timestamp())}"


def admin_emails(account_id: str) -> list[str]:
    """The account's own admins (an agency's admins are mailed about the agency's integrations, not each
    sub-account's)."""
    return list(
        db.session.scalars(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.account_id == account_id, Membership.role == "admin")
            .order_by(User.email)
        )
    )


def _message(notice: DueNotice, recipients: list[str], settings: MailSettings, base_url: str, now: datetime):
    integration = db.session.get_one(Integration, notice.token.integration_id)
    account = db.session.get_one(Account, notice.token.account_id)
    return compose.expiry_notice(
        sender=settings.sender,
        recipients=recipients,
        kind=notice.reason,
        account_name=account.name,
        integration_name=integration.name,
        deadline=notice.deadline,
        page_url=f"{base_url}/accounts/{account.id}/settings/integrations/{integration.id}",
        now=now,
    )


def _is_claimed(key: str) -> bool:
    return db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.dedup_key == key)) is not None


def _claim(notice: DueNotice, key: str, now: datetime, recipients: int) -> bool:
    """Commit the marker; False if another process committed it first."""
    body = {"kind": notice.reason, "deadline": isoformat(notice.deadline), "recipients": recipients}
    try:
        with unit_of_work():
            db.session.add(
                WebhookEvent(
                    id=new_id("msg"),
                    type=MARKER_TYPE,
                    account_id=notice.token.account_id,
                    integration_id=notice.token.integration_id,
                    occurred_at=now,
                    body=json.dumps(body, sort_keys=True),
                    dedup_key=key,
                )
            )
    except IntegrityError:
        return False
    return True


def _release(key: str) -> None:
    with unit_of_work():
        db.session.execute(delete(WebhookEvent).where(WebhookEvent.dedup_key == key))
