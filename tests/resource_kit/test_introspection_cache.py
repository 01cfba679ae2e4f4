"""The introspection cache: lifetimes capped by exp, drops by event, and no stale answer slipping in after one."""

from __future__ import annotations

import time

from authserver_resource.grants import Grant
from authserver_resource.introspection_cache import IntrospectionCache


def grant(jti="tok_1", integration="int_1", exp_in=3600.0) -> Grant:
    return Grant(
        jti=jti,
        account_id="acc_1",
        integration_id=integration,
        client_id=integration,
        scopes=frozenset({"contacts.readonly"}),
        exp=time.time() + exp_in,
    )


def test_a_positive_answer_never_outlives_the_tokens_exp():
    cache = IntrospectionCache(ttl=60, negative_ttl=5)
    cache.put("k", grant(exp_in=0.05), now=time.time(), generation=cache.generation)
    assert cache.get("k").is_fresh()
    time.sleep(0.08)
    assert not cache.get("k").is_fresh()


def test_an_answer_already_past_exp_is_not_stored():
    cache = IntrospectionCache(ttl=60, negative_ttl=5)
    cache.put("k", grant(exp_in=-1), now=time.time(), generation=cache.generation)
    assert cache.get("k") is None


def test_negative_answers_are_kept_only_briefly():
    cache = IntrospectionCache(ttl=60, negative_ttl=0.05)
    cache.put("k", None, now=time.time(), generation=cache.generation)
    assert cache.get("k").grant is None and cache.get("k").is_fresh()
    time.sleep(0.08)
    assert not cache.get("k").is_fresh()


def test_token_events_drop_only_that_token():
    cache = IntrospectionCache(ttl=60, negative_ttl=5)
    cache.put("a", grant("tok_a"), now=time.time(), generation=cache.generation)
    cache.put("b", grant("tok_b"), now=time.time(), generation=cache.generation)
    cache.drop_token("tok_a")
    assert cache.get("a") is None and cache.get("b") is not None


def test_integration_changes_drop_its_tokens_and_every_negative_answer():
    cache = IntrospectionCache(ttl=60, negative_ttl=5)
    cache.put("a", grant("tok_a", "int_1"), now=time.time(), generation=cache.generation)
    cache.put("b", grant("tok_b", "int_2"), now=time.time(), generation=cache.generation)
    cache.put("n", None, now=time.time(), generation=cache.generation)
    cache.drop_integration("int_1")
    assert cache.get("a") is None and cache.get("n") is None and cache.get("b") is not None


def test_an_answer_fetched_across_an_event_is_not_stored():
    """Introspect (answer: active), the revocation event arrives, then the now-stale answer comes back."""
    cache = IntrospectionCache(ttl=60, negative_ttl=5)
    generation = cache.generation
    cache.drop_token("tok_a")
    cache.put("a", grant("tok_a"), now=time.time(), generation=generation)
    assert cache.get("a") is None


def test_the_cache_is_bounded():
    cache = IntrospectionCache(ttl=60, negative_ttl=5, max_entries=3)
    for n in range(5):
        cache.put(str(n), grant(f"tok_{n}"), now=time.time(), generation=cache.generation)
    assert len(cache) == 3 and cache.get("0") is None and cache.get("4") is not None
