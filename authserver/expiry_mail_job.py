"""The expiry-mail job: in each serving process, every minute (the webhook scan's pace), mail the warnings that
are due (``expiry_notices.send_due``). Processes share the work safely: each message is claimed in the database.
Without ``AUTHSERVER_SMTP_URL`` nothing runs; ``announce`` says so once per server start.
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from .expiry_notices import send_due
from .extensions import db
from .mail.smtp import MailSettings
from .services import services

log = logging.getLogger("authserver.mail")
INTERVAL = 60.0
FIRST_RUN = (1.0, 5.0)  # seconds after start: soon, and workers started together spread out


def announce(app: Flask) -> None:
    """One line at start-up (the serving parent, not each worker): where warnings go, or that none are mailed."""
    settings = MailSettings.from_config(app.config)
    if settings is None:
        log.info("expiry mail is off: AUTHSERVER_SMTP_URL is not set, so admins get no email before tokens expire")
    else:
        log.info("expiry mail to account admins via %s", settings.describe())


class ExpiryMailJob:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.settings = MailSettings.from_config(app.config)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ExpiryMailJob:
        if self.settings is not None:
            self._thread = threading.Thread(target=self._loop, name="authserver-expiry-mail", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=20)

    def _loop(self) -> None:
        delay = random.uniform(*FIRST_RUN)  # noqa: S311 (spreading work, not a secret)
        while not self._stop.wait(delay):
            self.run_once()
            delay = INTERVAL * random.uniform(0.9, 1.1)  # noqa: S311

    def run_once(self) -> None:
        assert self.settings is not None
        with self.app.app_context():
            try:
                report = send_due(
                    services(self.app).clock.now(), self.settings, base_url=self.app.config["AUTHSERVER_ISSUER"]
                )
            except Exception:
                db.session.rollback()
                log.exception("expiry mail pass failed; will try again in a minute")
                return
        log.debug("expiry mail pass: sent=%d failed=%d skipped=%d", report.sent, report.failed, report.skipped)
        if report.sent:
            log.info("expiry mail: sent %d warning(s)", report.sent)
