"""The expiry-mail job: in each serving process, every minute (the webhook scan's pace), mail the warnings that
are due (``expiry_notices.send_due``). Processes share the work safely: each message is claimed in the database.
Without ``AUTHSERVER_SMTP_URL`` nothing runs; ``announce`` says so once per server start.
"""

from __future__ import annotations

import logging

from flask import Flask

from .expiry_notices import send_due
from .mail.smtp import MailSettings
from .periodic_job import PeriodicJob
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


class ExpiryMailJob(PeriodicJob):
    name = "expiry mail pass"
    first_run = FIRST_RUN
    log = log

    def __init__(self, app: Flask) -> None:
        self.settings = MailSettings.from_config(app.config)
        super().__init__(app, INTERVAL if self.settings is not None else None)

    def work(self) -> None:
        assert self.settings is not None
        report = send_due(services(self.app).clock.now(), self.settings, base_url=self.app.config["AUTHSERVER_ISSUER"])
        log.debug("expiry mail pass: sent=%d failed=%d skipped=%d", report.sent, report.failed, report.skipped)
        if report.sent:
            log.info("expiry mail: sent %d warning(s)", report.sent)
