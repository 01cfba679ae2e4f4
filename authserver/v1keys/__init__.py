"""Legacy v1 API keys and the way off them: the keys themselves, the routes they call, the migration report,
and the migration to a private integration (with an overlap during which both work, and a rollback)."""
