"""Properties of the parsers at the edges, for any input Hypothesis can think of: identifiers in paths and
credentials, durations and scopes as the JSON API receives them (any JSON value, not only text), If-Match
versions, rate settings, JSON nesting, log scrubbing, and the rate limiter's arithmetic. Each either returns a
value of the documented shape or raises its one documented error, never anything else (a 500)."""

from __future__ import annotations

import base64
import string
from urllib.parse import quote, urlsplit

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authserver.config import ConfigError, parse_rate
from authserver.errors import InvalidInputError
from authserver.httpbase import BoundedJSONProvider
from authserver.limits.rates import MemoryRateStore, Rate
from authserver.logs import loggable_path, scrub
from authserver.scopes import ALL_SCOPES, parse_scopes

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIXTURE_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# -- identifiers, credentials and headers, over HTTP through the app (both storage backends) --------------------------
# One test per family: each test's app (migrations, keys, tenants) is the expensive part, not the examples.
@FIXTURE_SETTINGS
@given(
    identifier=st.text(min_size=1, max_size=80),
    client_id=st.text(max_size=80),
    secret=st.text(max_size=80),
    header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=120),
    if_match=st.text(max_size=30),
)
def test_any_identifier_credential_or_header_is_answered_never_500(
    client, world, identifier, client_id, secret, header, if_match
):
    if identifier not in (".", ".."):
        for path in (
            f"/api/integrations/{quote(identifier, safe='')}",
            f"/api/accounts/{quote(identifier, safe='')}",
            f"/api/integrations/{quote(identifier, safe='')}/tokens",
        ):
            response = client.get(path, headers=world.agency.admin_headers)
            if response.status_code == 308:  # "%2F" made "//": werkzeug redirects to the merged path, on this host
                location = urlsplit(response.headers["Location"])
                assert location.netloc in ("", "localhost") and location.path.startswith("/api/")
                continue
            assert response.status_code == 404, (path, response.status_code)
            assert response.content_type == "application/problem+json"
    if ":" not in client_id:
        basic = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
        assert client.post("/oauth/introspect", data={"token": world.agency.token}, headers=basic).status_code in (
            200,
            401,
        )
        assert client.get("/api/accounts", headers=basic).status_code in (200, 401)
    for response in (
        client.post("/oauth/introspect", data={"token": "x"}, headers={"Authorization": header}),
        client.get("/api/accounts", headers={"Authorization": header}),
    ):
        assert response.status_code in (200, 400, 401), (header, response.status_code)
    if if_match.isprintable() and if_match == if_match.strip():
        response = client.patch(
            f"/api/integrations/{world.agency.integration_id}",
            json={"name": "renamed"},
            headers=world.agency.admin_headers | {"If-Match": if_match},
        )
        assert response.status_code in (200, 400, 409), (if_match, response.status_code)


# -- durations and scopes as the JSON API receives them -------------------------------------------------------------
@FIXTURE_SETTINGS
@given(expires_in=JSON_VALUES, scopes=JSON_VALUES)
def test_any_json_value_as_a_token_lifetime_or_scopes_is_accepted_or_400_never_500(client, world, expires_in, scopes):
    response = client.post(
        f"/api/integrations/{world.other.integration_id}/rotate",
        json={"mode": "now", "expires_in": expires_in},
        headers=world.other.admin_headers,
    )
    assert response.status_code in (201, 400), (expires_in, response.status_code)
    response = client.post(
        f"/api/accounts/{world.other.account_id}/integrations",
        json={"name": "props", "scopes": scopes},
        headers=world.other.admin_headers,
    )
    assert response.status_code in (201, 400), (scopes, response.status_code)
    if response.status_code == 201:
        assert set(response.get_json()["scopes"]) <= ALL_SCOPES


@given(value=st.one_of(st.text(max_size=60), st.lists(st.text(max_size=25), max_size=6)))
def test_parsed_scopes_are_always_catalogue_scopes_exactly_as_listed(value):
    try:
        scopes = parse_scopes(value)
    except InvalidInputError:
        return
    assert scopes and scopes <= ALL_SCOPES
    items = value.split() if isinstance(value, str) else [item.strip() for item in value]
    assert scopes == {item for item in items if item}


# -- settings, JSON and logs ------------------------------------------------------------------------------------------
@given(text=st.text(max_size=20))
def test_any_rate_setting_is_count_and_seconds_or_a_config_error(text):
    try:
        rate = parse_rate(text, "AUTHSERVER_RATE_LIMIT_INTROSPECTION")
    except ConfigError:
        return
    if rate is not None:
        count, seconds = rate
        assert isinstance(count, int) and isinstance(seconds, int) and count >= 1 and seconds >= 1


@settings(max_examples=30)
@given(depth=st.integers(min_value=1, max_value=200_000), opener=st.sampled_from(["[", '{"a":']))
def test_any_json_nesting_is_a_value_or_invalid_json_never_a_crash(depth, opener):
    provider = BoundedJSONProvider(Flask(__name__))
    closer = "]" if opener == "[" else "}"
    document = opener * depth + ("1" if opener != "[" else "") + closer * depth
    try:
        provider.loads(document)
    except ValueError:
        pass


URLSAFE = string.ascii_letters + string.digits + "-_"


@given(
    header=st.text(URLSAFE, min_size=8, max_size=40),
    payload=st.text(URLSAFE, min_size=8, max_size=200),
    signature=st.text(URLSAFE, max_size=80),
    around=st.text(max_size=20),
)
def test_a_token_anywhere_in_a_log_message_or_path_is_withheld(header, payload, signature, around):
    token = f"eyJ{header}.{payload}.{signature}"
    assert token not in scrub(around + token + around)
    assert token not in loggable_path(f"/api/integrations/{token}/{around}")
    assert f"eyJ{header}.{payload}" not in loggable_path(f"/x/{token}")


# -- the rate limiter's arithmetic ------------------------------------------------------------------------------------
@given(
    count=st.integers(min_value=1, max_value=20),
    period=st.integers(min_value=1, max_value=120),
    gaps=st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), min_size=1, max_size=120),
)
def test_admissions_never_exceed_a_burst_of_the_limit_plus_the_sustained_rate(count, period, gaps):
    """GCRA is a bucket of ``count`` cells refilled at count/period: over any stretch of time L, at most
    count + L * count / period requests get through, and a refusal's wait is exactly enough."""
    store, rate, now, admitted = MemoryRateStore(), Rate(count, period), 1_000_000.0, []
    for gap in gaps:
        now += gap
        wait = store.acquire("client", rate, now)
        if wait == 0:
            admitted.append(now)
        else:
            assert 0 < wait <= period
            assert store.acquire("client", rate, now + wait + 1e-6) == 0  # the promised wait is enough
            admitted.append(now + wait + 1e-6)
            now += wait + 1e-6
    for first in range(len(admitted)):
        for last in range(first, len(admitted)):
            span = admitted[last] - admitted[first]
            assert last - first + 1 <= count + span * count / period + 1e-6


def test_the_property_tests_cover_every_parser_named_in_the_issue():
    """Durations, scopes and identifiers (the issue's list) all have a property test above."""
    names = [name for name in globals() if name.startswith("test_")]
    assert any("lifetime" in name for name in names)
    assert any("scopes" in name for name in names)
    assert any("identifier" in name for name in names)
