"""Which store holds each limit, from the configuration.

    limit                              REDIS_URL set         no Redis (or Redis unreachable)
    failed password checks             Redis                 database (exact across workers and instances)
    revocation, token generation,      Redis                 database (exact across workers and instances)
    service events
    introspection (the hot path)       Redis, leased         memory, the budget split between the workers

Brute-force limits protect a secret and must hold exactly however many processes serve; the database is the one
thing every process shares. Introspection stays off the database: per instance, each of W workers grants N/W.
"""

from __future__ import annotations

import redis

from .database_store import DatabaseAttemptStore, DatabaseRateStore, callers_transaction
from .rates import INTROSPECTION, REVOCATION, SERVICE_EVENTS, TOKEN_GENERATION, MemoryRateStore, Rate, RateStore
from .rates import RequestLimits
from .redis_store import RedisAttemptStore, RedisRateStore
from .signin import AttemptStore, Limit, SignInLimiter

_RATE_KEYS = (
    (INTROSPECTION, "AUTHSERVER_RATE_LIMIT_INTROSPECTION"),
    (REVOCATION, "AUTHSERVER_RATE_LIMIT_REVOCATION"),
    (TOKEN_GENERATION, "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION"),
    (SERVICE_EVENTS, "AUTHSERVER_RATE_LIMIT_SERVICE_EVENTS"),
)


def build_limits(config: dict, clock, client: redis.Redis | None = None) -> RequestLimits:
    """Rates from config (``(count, seconds)`` or None for off), each in the store the table above gives it;
    ``client`` is the app's Redis client (``REDIS_URL``), shared with the other users of Redis."""
    rates = {kind: None if config[key] is None else Rate(*config[key]) for kind, key in _RATE_KEYS}
    stores: dict[str, RateStore] = {
        INTROSPECTION: MemoryRateStore(),
        REVOCATION: DatabaseRateStore(),
        # Counted in the minting transaction: only a token that is committed spends the budget.
        TOKEN_GENERATION: DatabaseRateStore(callers_transaction),
        SERVICE_EVENTS: DatabaseRateStore(),
    }
    per_process = frozenset({INTROSPECTION})
    if client is not None:
        stores = {
            kind: RedisRateStore(client, config["REDIS_KEY_PREFIX"], fallback=store) for kind, store in stores.items()
        }
        per_process = frozenset()
    return RequestLimits(rates, stores, clock, per_process)


def build_signin_limiter(config: dict, client: redis.Redis | None = None) -> SignInLimiter:
    """Failed password checks (sign-in, password change) per account and per address, in the database or Redis."""
    account, address = config["AUTHSERVER_SIGNIN_ACCOUNT_LIMIT"], config["AUTHSERVER_SIGNIN_ADDRESS_LIMIT"]
    limits = (
        Limit("account", failures=account[0], window=int(account[1])),
        Limit("address", failures=address[0], window=int(address[1])),
    )
    store: AttemptStore = DatabaseAttemptStore()
    if client is not None:
        store = RedisAttemptStore(client, config["REDIS_KEY_PREFIX"], fallback=store)
    return SignInLimiter(store, limits)
