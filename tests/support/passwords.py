"""Password hashing at production strength, paid once per password per test process instead of once per call.

argon2id with the production parameters costs ~0.2 s to hash and ~0.15 s to verify (64 MiB, t=3), and the admin UI
suites create people and sign in a few hundred times with the same handful of passwords. ``install`` swaps the two
names ``authserver.users`` calls for memoised wrappers: hashing a password returns one real, salted argon2id hash
of it made the first time (still a production-strength hash that verifies and needs no rehash), and a check of a
(password, stored hash) pair returns the real verdict computed the first time, which is exact since verification is
a pure function. ``authserver.security`` itself is untouched, so its own tests (salts differ between two hashes,
parameters recorded, weak hashes need a rehash) still exercise the real functions on every call.
"""

from __future__ import annotations

import functools

import pytest

from authserver import security, users


@functools.cache
def _hash_once(password: str) -> str:
    return security.hash_password(password)


@functools.cache
def _check_once(password: str, stored: str) -> bool:
    return security.check_password(password, stored)


def _check(password: object, stored: str) -> bool:
    if not isinstance(password, str):  # not hashable in general, and never cached: the real check decides
        return security.check_password(password, stored)  # type: ignore[arg-type]
    return _check_once(password, stored)


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "hash_password", _hash_once)
    monkeypatch.setattr(users, "check_password", _check)
