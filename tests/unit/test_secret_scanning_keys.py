"""The scanner's key document and alert signatures, without HTTP routes: parsing, caching, the refetch guard,
and ECDSA P-256 verification of the raw body (keys generated here with ``cryptography``)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from authserver.config import ConfigError
from authserver.config_values import scanner_keys_url
from authserver.secret_scanning.alerts import MAX_ENTRIES, MalformedAlertError, parse_alert
from authserver.secret_scanning.scanner_keys import (
    KeyDocumentError,
    ScannerKeys,
    fetch_key_document,
    parse_key_document,
)
from authserver.secret_scanning.signature import SignatureError, verify_alert
from tests.support.secret_scanner import KeyServer, ScannerKey, alert_body, key_document


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A fetch function over documents the test sets; counts calls; ``fail`` makes it raise like a dead server."""

    def __init__(self, *keys: ScannerKey) -> None:
        self.document, self.calls, self.fail = key_document(*keys), 0, False

    def __call__(self, url: str):
        self.calls += 1
        if self.fail:
            raise KeyDocumentError("the key document could not be fetched: ConnectionError")
        return parse_key_document(self.document)


# -- the key document -------------------------------------------------------------------------------------------
def test_a_github_shaped_document_gives_its_p256_keys_by_identifier():
    first, second = ScannerKey(), ScannerKey()
    keys = parse_key_document(key_document(first, second))
    assert set(keys) == {first.identifier, second.identifier}
    assert keys[first.identifier].is_current is True


def test_keys_that_are_not_p256_or_not_keys_are_skipped():
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    good, p384 = ScannerKey(), ScannerKey(curve=ec.SECP384R1())
    document = {
        "public_keys": [
            good.entry(),
            p384.entry(),
            {"key_identifier": "rsa", "key": rsa_pem},
            {"key_identifier": "junk", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
            {"key_identifier": 7, "key": good.public_pem()},
            {"key_identifier": "has space", "key": good.public_pem()},
            "not an object",
        ]
    }
    assert set(parse_key_document(json.dumps(document).encode())) == {good.identifier}


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'{"public_keys": {}}', b'{"public_keys": []}', b'{"keys": []}', b"[" * 100000],
)
def test_a_document_without_a_usable_key_is_an_error(raw):
    with pytest.raises(KeyDocumentError):
        parse_key_document(raw)


def test_fetching_over_http_refuses_a_non_200_and_an_oversized_document():
    key = ScannerKey()
    with KeyServer(key_document(key)) as server:
        assert set(fetch_key_document(server.url)) == {key.identifier}
        server.status = 503
        with pytest.raises(KeyDocumentError, match="503"):
            fetch_key_document(server.url)
        server.status, server.document = 200, b" " * (65 * 1024)
        with pytest.raises(KeyDocumentError, match="larger"):
            fetch_key_document(server.url)


def test_an_unreachable_key_server_is_an_error_not_an_exception():
    with KeyServer(b"") as server:
        url = server.url
    with pytest.raises(KeyDocumentError, match="could not be fetched"):
        fetch_key_document(url, timeout=1)


# -- the cache --------------------------------------------------------------------------------------------------
def test_the_document_is_fetched_once_and_served_from_the_cache():
    key, clock = ScannerKey(), Clock()
    source = Source(key)
    keys = ScannerKeys("https://scanner.test/keys", fetch=source, monotonic=clock)
    assert keys.key_for(key.identifier) is not None
    clock.now += 30
    assert keys.key_for(key.identifier) is not None
    assert source.calls == 1


def test_forged_identifiers_trigger_at_most_one_fetch_per_interval():
    key, clock = ScannerKey(), Clock()
    source = Source(key)
    keys = ScannerKeys("https://scanner.test/keys", fetch=source, monotonic=clock, refetch_interval=60)
    keys.key_for(key.identifier)
    for index in range(500):
        assert keys.key_for(f"forged-{index}") is None
    assert source.calls == 1  # the first fetch was under a minute ago
    clock.now += 61
    for index in range(500):
        keys.key_for(f"forged-again-{index}")
    assert source.calls == 2


def test_a_new_key_is_found_by_a_refetch_once_the_interval_has_passed():
    old, new, clock = ScannerKey(), ScannerKey(), Clock()
    source = Source(old)
    keys = ScannerKeys("https://scanner.test/keys", fetch=source, monotonic=clock, refetch_interval=60)
    assert keys.key_for(old.identifier) is not None
    source.document = key_document(old, new)  # the scanner rotates
    assert keys.key_for(new.identifier) is None  # within the interval: not asked again
    clock.now += 60
    assert keys.key_for(new.identifier) is not None
    assert source.calls == 2


def test_a_failed_refetch_keeps_serving_the_keys_held():
    key, clock = ScannerKey(), Clock()
    source = Source(key)
    keys = ScannerKeys("https://scanner.test/keys", fetch=source, monotonic=clock, refetch_interval=60, max_age=3600)
    assert keys.key_for(key.identifier) is not None
    source.fail = True
    clock.now += 4000  # stale: a refetch is tried, fails, and the held key still answers
    assert keys.key_for(key.identifier) is not None
    assert keys.key_for("unknown") is None
    assert source.calls == 2


def test_a_held_document_is_refreshed_after_max_age_and_drops_retired_keys():
    old, new, clock = ScannerKey(), ScannerKey(), Clock()
    source = Source(old)
    keys = ScannerKeys("https://scanner.test/keys", fetch=source, monotonic=clock, refetch_interval=60, max_age=3600)
    assert keys.key_for(old.identifier) is not None
    source.document = key_document(new)
    clock.now += 3600
    assert keys.key_for(old.identifier) is None
    assert keys.key_for(new.identifier) is not None


def test_a_first_fetch_that_fails_is_not_retried_within_the_interval():
    key, clock = ScannerKey(), Clock()
    source = Source(key)
    source.fail = True
    keys = ScannerKeys("https://scanner.test/keys", fetch=source, monotonic=clock, refetch_interval=60)
    assert keys.key_for(key.identifier) is None
    source.fail = False
    assert keys.key_for(key.identifier) is None
    clock.now += 60
    assert keys.key_for(key.identifier) is not None
    assert source.calls == 2


# -- signatures -------------------------------------------------------------------------------------------------
@pytest.fixture
def signer():
    key = ScannerKey()
    return key, ScannerKeys("https://scanner.test/keys", fetch=Source(key))


def test_a_signature_by_the_named_key_over_the_exact_body_verifies(signer):
    key, keys = signer
    body = alert_body("eyJ.a.b")
    verify_alert(keys, key.identifier, key.sign(body), body)


def _bad_signatures(key: ScannerKey, body: bytes):
    other = ScannerKey(identifier=key.identifier)
    digest_only = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()
    return {
        "no identifier": (None, key.sign(body)),
        "no signature": (key.identifier, None),
        "empty signature": (key.identifier, ""),
        "unknown identifier": ("0" * 64, key.sign(body)),
        "not base64": (key.identifier, "not*base64!"),
        "too long": (key.identifier, "A" * 400),
        "another key": (key.identifier, other.sign(body)),
        "another body": (key.identifier, key.sign(body + b" ")),
        "not DER": (key.identifier, base64.b64encode(b"\x01" * 64).decode()),
        "a weak DER": (key.identifier, digest_only),
    }


@pytest.mark.parametrize("case", list(_bad_signatures(ScannerKey(), b"{}")))
def test_every_bad_signature_is_a_signature_error(signer, case):
    key, keys = signer
    body = alert_body("eyJ.a.b")
    identifier, signature = _bad_signatures(key, body)[case]
    with pytest.raises(SignatureError):
        verify_alert(keys, identifier, signature, body)


def test_a_bad_base64_signature_is_refused_before_any_key_document_fetch():
    source = Source(ScannerKey())
    keys = ScannerKeys("https://scanner.test/keys", fetch=source)
    with pytest.raises(SignatureError, match="base64"):
        verify_alert(keys, "some-key", "%%%", b"[]")
    assert source.calls == 0


# -- the alert body ---------------------------------------------------------------------------------------------
def test_an_alert_is_read_in_order_with_url_and_source_optional():
    body = json.dumps(
        [
            {"token": "one", "type": "authserver_access_token", "url": "https://github.com/a", "source": "commit"},
            {"token": "two", "type": "authserver_access_token"},
        ]
    ).encode()
    first, second = parse_alert(body)
    assert (first.token, first.url, first.source) == ("one", "https://github.com/a", "commit")
    assert (second.token, second.url, second.source) == ("two", "", "")


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"token": "x"}',
        b"[]",
        b"[1]",
        b'[{"type": "t"}]',
        b'[{"token": "", "type": "t"}]',
        b'[{"token": 5, "type": "t"}]',
        b'[{"token": "x"}]',
        b'[{"token": "x", "type": "t", "url": 3}]',
        b'[{"token": "x", "type": "t", "url": "' + b"u" * 3000 + b'"}]',
        b'[{"token": "x", "type": "t", "source": "a\\nb"}]',
        b'[{"token": "x", "type": "t", "url": "\\ud800"}]',
        json.dumps([{"token": "x", "type": "t"}] * (MAX_ENTRIES + 1)).encode(),
        b"[" * 100000,
    ],
    ids=lambda body: body[:30].decode(errors="replace"),
)
def test_anything_but_an_array_of_found_tokens_is_malformed(body):
    with pytest.raises(MalformedAlertError):
        parse_alert(body)


# -- the setting ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "https://api.github.com/meta/public_keys/secret_scanning",
        "http://127.0.0.1:8123/keys",
        "http://localhost/keys",
        "http://[::1]:9/keys",
    ],
)
def test_https_or_loopback_http_is_accepted(value):
    assert scanner_keys_url(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "http://api.github.com/meta/public_keys/secret_scanning",
        "http://10.0.0.5/keys",
        "ftp://127.0.0.1/keys",
        "file:///etc/keys.json",
        "https://user:pw@scanner.test/keys",
        "https://scanner.test:99999/keys",
        "not a url",
    ],
)
def test_anything_else_is_a_configuration_error(value):
    with pytest.raises(ConfigError, match="AUTHSERVER_SECRET_SCANNING_KEYS_URL"):
        scanner_keys_url(value)


def test_unset_or_empty_is_off():
    assert scanner_keys_url(None) is None and scanner_keys_url("") is None and scanner_keys_url("  ") is None
