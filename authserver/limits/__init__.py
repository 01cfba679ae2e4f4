"""Limits: failed password checks (brute force) and request rates, and where each one's count is kept.

signin.py          failed password checks per account and per address; counted before the check, atomically
rates.py           request budgets (GCRA) per client and per account; the rate-limited token generator
database_store.py  both kinds of count in the ``limit_counters`` table (no Redis needed)
redis_store.py     both kinds of count in Redis, falling back to the stores above when it is unreachable
build.py           which store holds which limit, from the configuration
"""
