"""Email: ``smtp`` sends one message over SMTP (settings from ``AUTHSERVER_SMTP_URL``), ``compose`` writes the
expiry warnings. What is sent, to whom and when: ``authserver/expiry_notices.py``."""
