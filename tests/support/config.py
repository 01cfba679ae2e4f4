"""The app config every test app starts from, defined once: an isolated instance folder, keys directory and database.

Fixtures and tests pass their own root directory and database URL, and override only what they are about.
"""

from __future__ import annotations

from pathlib import Path

ISSUER = "http://127.0.0.1:5000"


def make_app_config(root: Path, database_url: str, **overrides: object) -> dict:
    """Config for an app under ``root`` (instance folder, keys directory) on ``database_url``; activity is flushed
    by hand (the interval is an hour), and the secret key is fixed so no instance folder secret is written."""
    return {
        "INSTANCE_PATH": root / "instance",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "AUTHSERVER_KEYS_DIR": str(root / "keys"),
        "AUTHSERVER_ISSUER": ISSUER,
        "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": 3600.0,
        "SECRET_KEY": "test-secret-key",
        "TESTING": True,
    } | overrides
