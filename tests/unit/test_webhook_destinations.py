"""Server-side request forgery rules for webhook URLs, without an app: the policy and the resolver."""

from __future__ import annotations

import ipaddress

import pytest

from authserver.webhooks.destinations import DestinationPolicy, DestinationRefusedError, resolve

LOOPBACK_ALLOWED = DestinationPolicy(allow_http=True, allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",   # cloud metadata (link-local)
    "http://[fd00:ec2::254]/latest/meta-data/",   # AWS IPv6 metadata (unique local)
    "http://10.0.0.1/hooks",
    "http://172.16.5.4/hooks",
    "http://192.168.1.10/hooks",
    "http://[::ffff:10.0.0.1]/hooks",             # IPv4-mapped IPv6 is the IPv4 address
    "http://100.64.0.1/hooks",                    # shared address space (carrier-grade NAT)
    "http://127.0.0.2/hooks",                     # loopback, but not the allowed 127.0.0.1
    "http://localhost./hooks",
    "http://167772161/hooks",                     # 10.0.0.1 spelled as a number
    "http://0.0.0.0/hooks",
    "http://[::1]/hooks",
    "http://224.0.0.1/hooks",                     # multicast
])
def test_internal_addresses_are_refused(url):
    with pytest.raises(DestinationRefusedError) as refused:
        resolve(url, LOOPBACK_ALLOWED)
    assert refused.value.field == "url"


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.1/hooks", "http://user:pw@127.0.0.1/hooks", "not a url", "https:///nohost", "", None,
    "http://127.0.0.1:0/hooks", "http://127.0.0.1:99999/hooks", "http://127.0.0.1/ho oks",
])
def test_malformed_urls_are_refused(url):
    with pytest.raises(DestinationRefusedError):
        resolve(url, LOOPBACK_ALLOWED)


def test_https_only_unless_http_is_allowed():
    with pytest.raises(DestinationRefusedError, match="https"):
        resolve("http://127.0.0.1/hooks", DestinationPolicy(allowed_networks=LOOPBACK_ALLOWED.allowed_networks))
    assert resolve("http://127.0.0.1:8080/hooks?x=1", LOOPBACK_ALLOWED).target == "/hooks?x=1"


def test_loopback_is_refused_unless_the_operator_allows_it():
    with pytest.raises(DestinationRefusedError, match="127.0.0.1"):
        resolve("https://127.0.0.1/hooks", DestinationPolicy())
    destination = resolve("https://127.0.0.1:8443/hooks", LOOPBACK_ALLOWED)
    assert (destination.address, destination.port, destination.host) == ("127.0.0.1", 8443, "127.0.0.1")


def test_public_addresses_are_allowed():
    assert resolve("https://93.184.215.14/hooks", DestinationPolicy()).address == "93.184.215.14"


def test_a_cidr_allows_a_whole_private_network():
    policy = DestinationPolicy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    assert resolve("https://10.20.3.4/hooks", policy).address == "10.20.3.4"
    with pytest.raises(DestinationRefusedError):
        resolve("https://10.21.0.1/hooks", policy)
