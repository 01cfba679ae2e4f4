"""The HTTP suite shares the unit suite's cheap app (ES256 by default, SQLite from a migrated copy)."""

from tests.unit.conftest import app_config, migrated_sqlite_template  # noqa: F401  (fixtures)
