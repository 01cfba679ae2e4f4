"""Failed sign-ins are limited per account (email) and per address; the limiter itself, the database store the
app counts in (on each backend), then through the pages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.limits.database_store import DatabaseAttemptStore
from authserver.limits.signin import ACCOUNT_LIMIT, ADDRESS_LIMIT, Limit, MemoryAttemptStore, SignInLimiter
from authserver.models import LimitCounter
from authserver.services import services
from tests.factories import make_account
from tests.support.admin_ui import make_user, sign_in

T0 = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


def _fail(limiter: SignInLimiter, times: int, *, email="a@acme.test", address="192.0.2.1", start=T0, step=0):
    for index in range(times):
        assert limiter.try_attempt(email=email, address=address, now=start + timedelta(seconds=index * step)) is None


def test_limiter_allows_attempts_until_the_account_limit_then_says_how_long_to_wait():
    limiter = SignInLimiter()
    _fail(limiter, ACCOUNT_LIMIT.failures - 1, step=10)
    assert limiter.retry_after(email="a@acme.test", address="192.0.2.1", now=T0 + timedelta(seconds=60)) is None
    _fail(limiter, 1, start=T0 + timedelta(seconds=60))
    # The first failure (at T0) leaves the 15-minute window at T0 + 900 s.
    assert (
        limiter.retry_after(email="a@acme.test", address="192.0.2.1", now=T0 + timedelta(seconds=100))
        == ACCOUNT_LIMIT.window - 100
    )
    assert (
        limiter.retry_after(email="a@acme.test", address="192.0.2.1", now=T0 + timedelta(seconds=ACCOUNT_LIMIT.window))
        is None
    )


def test_limiter_counts_an_email_however_it_is_capitalised():
    limiter = SignInLimiter()
    _fail(limiter, ACCOUNT_LIMIT.failures, email=" A@Acme.TEST ")
    assert limiter.retry_after(email="a@acme.test", address="198.51.100.7", now=T0) is not None


def test_limiter_limits_one_address_trying_many_accounts():
    limiter = SignInLimiter()
    for index in range(ADDRESS_LIMIT.failures):
        _fail(limiter, 1, email=f"user{index}@acme.test", address="192.0.2.9")
    assert limiter.retry_after(email="fresh@acme.test", address="192.0.2.9", now=T0) is not None
    assert limiter.retry_after(email="fresh@acme.test", address="192.0.2.10", now=T0) is None


def test_a_success_clears_the_account_count_but_not_the_address_count():
    limiter = SignInLimiter(limits=(Limit("account", 3, 900), Limit("address", 3, 900)))
    _fail(limiter, 2)
    _fail(limiter, 1, start=T0 + timedelta(seconds=1))  # the third attempt turns out to be the right password
    limiter.record_success(email="a@acme.test", address="192.0.2.1", now=T0 + timedelta(seconds=1))
    _fail(limiter, 1, email="b@acme.test")
    assert limiter.retry_after(email="a@acme.test", address="192.0.2.2", now=T0) is None
    assert limiter.retry_after(email="c@acme.test", address="192.0.2.1", now=T0) is not None


def test_an_attempt_refused_by_the_address_limit_does_not_count_against_the_account():
    limiter = SignInLimiter(limits=(Limit("account", 3, 900), Limit("address", 2, 900)))
    _fail(limiter, 2, email="other@acme.test")
    for _ in range(5):
        assert limiter.try_attempt(email="a@acme.test", address="192.0.2.1", now=T0) == 900
    assert limiter.retry_after(email="a@acme.test", address="198.51.100.7", now=T0) is None


def test_memory_store_forgets_the_least_recently_used_keys_beyond_its_bound():
    store, limit = MemoryAttemptStore(max_keys=2), Limit("account", 1, 60)
    for key in ("one", "two", "three"):
        store.take(key, 1.0, limit)
    assert store.wait("one", 1.0, limit) == 0 and store.wait("three", 1.0, limit) == 60


# -- the database store, on each backend -------------------------------------------------------------------
def test_database_store_lets_exactly_the_limit_through_when_attempts_race(app):
    limit, at = Limit("account", 5, 900), T0.timestamp()

    def take(_):
        with app.app_context():
            return store.take("signin:account:race", at, limit)

    store = DatabaseAttemptStore()
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(take, range(20)))
    assert sorted(waits) == [0.0] * 5 + [900.0] * 15


def test_database_store_gives_back_one_attempt_and_clears_a_key(app):
    store, limit, at = DatabaseAttemptStore(), Limit("account", 2, 900), T0.timestamp()
    assert store.take("k", at, limit) == 0 and store.take("k", at + 10, limit) == 0
    assert store.take("k", at + 20, limit) == 880
    store.give_back("k", at + 10)
    assert store.wait("k", at + 20, limit) == 0
    store.clear("k")
    assert store.take("k", at + 20, limit) == 0 and store.take("k", at + 20, limit) == 0
    assert store.wait("k", at + 920, limit) == 0  # both left the window


def test_database_store_deletes_rows_past_their_window(app):
    store, limit, at = DatabaseAttemptStore(), Limit("account", 2, 900), T0.timestamp()
    store.take("old", at, limit)
    store._pruner.every = 0
    store.take("new", at + 901, limit)
    keys = db.session.execute(select(LimitCounter.key).where(LimitCounter.key.in_(["old", "new"]))).scalars()
    assert sorted(keys) == ["new"]


# -- through the sign-in page -------------------------------------------------------------------------------
@pytest.fixture
def admin(app, clock):
    return make_user(clock, make_account(clock).id, "admin@acme.test")


def test_too_many_failed_sign_ins_get_429_with_retry_after_even_with_the_right_password(client, admin, clock):
    for _ in range(ACCOUNT_LIMIT.failures):
        assert sign_in(client, "admin@acme.test", "wrong password").status_code == 400
    refused = sign_in(client, "admin@acme.test")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == ACCOUNT_LIMIT.window
    assert "Too many failed sign-ins. Try again in 15 minutes." in refused.text

    clock.advance(ACCOUNT_LIMIT.window)
    assert sign_in(client, "admin@acme.test").status_code == 302


def test_one_address_guessing_across_accounts_is_limited(app, client, admin):
    limiter = services(app).signin_limiter
    now = services(app).clock.now()
    for index in range(ADDRESS_LIMIT.failures):  # as if the page had refused these (each check costs a scrypt)
        assert limiter.try_attempt(email=f"guess{index}@acme.test", address="127.0.0.1", now=now) is None
    refused = sign_in(client, "admin@acme.test")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
