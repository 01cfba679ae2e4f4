"""Telling the account's admins by email that a token leaked and was revoked: after the commit, off the request.

The messages are written once the alert's unit of work committed (never inside it: a mail server must not hold a
transaction open, and a rolled-back revocation must not be announced), then handed to one sender thread per
process, so the scanner's request does not wait on SMTP. The durable records are the audit entry and the webhook;
mail is best effort: a failed send is logged, and one still queued when its process stops is lost (at most once).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from datetime import datetime
from email.message import EmailMessage

from ..expiry_notices import admin_emails
from ..extensions import db
from ..mail.leak_notice import leak_notice
from ..mail.smtp import MailError, MailSettings, send
from ..models import Account, Integration
from .leaks import Verdict

log = logging.getLogger("authserver.mail")


def leak_messages(
    verdicts: list[Verdict], settings: MailSettings, *, base_url: str, now: datetime
) -> list[EmailMessage]:
    """One message per token this alert revoked, to its account's own admins (none: nobody to tell)."""
    messages = []
    for verdict in verdicts:
        row = verdict.revoked
        if row is None or row.revoked_at is None:
            continue
        recipients = admin_emails(row.account_id)
        if not recipients:
            continue
        account = db.session.get_one(Account, row.account_id)
        integration = db.session.get_one(Integration, row.integration_id)
        messages.append(
            leak_notice(
                sender=settings.sender,
                recipients=recipients,
                account_name=account.name,
                integration_name=integration.name,
                url=verdict.found.url,
                source=verdict.found.source,
                revoked_at=row.revoked_at,
                page_url=f"{base_url}/accounts/{account.id}/settings/integrations/{integration.id}",
                now=now,
            )
        )
    return messages


class MailSender:
    """A queue and one daemon thread per process (started on first use, again in a forked worker)."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._queue: queue.Queue[EmailMessage] = queue.Queue(maxsize=1000)
        self._lock = threading.Lock()
        self._pid: int | None = None

    def post(self, messages: list[EmailMessage]) -> None:
        if not messages:
            return
        self._ensure_thread()
        for message in messages:
            try:
                self._queue.put_nowait(message)
            except queue.Full:
                log.warning("leaked-token mail dropped: the send queue is full")

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._queue = queue.Queue(maxsize=1000)  # a forked child does not inherit the parent's thread
            thread = threading.Thread(target=self._run, args=(self._queue,), name="leak-mail", daemon=True)
            thread.start()

    def _run(self, pending: queue.Queue[EmailMessage]) -> None:
        while True:
            message = pending.get()
            try:
                refused = send(self.settings, message)
            except MailError as exc:
                log.warning("leaked-token mail failed: %s", exc)
                continue
            if refused:
                log.warning("leaked-token mail: %d recipient(s) refused", len(refused))
            else:
                log.info("leaked-token mail sent to %d admin(s)", len(message["To"].split(",")))
