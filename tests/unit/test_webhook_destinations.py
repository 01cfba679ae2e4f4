"""Server-side request forgery rules for webhook URLs, without an app: the policy and the resolver."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from authserver.webhooks.addresses import embedded_ipv4_addresses
from authserver.webhooks.destinations import DestinationPolicy, DestinationRefusedError, resolve

LOOPBACK_ALLOWED = DestinationPolicy(allow_http=True, allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IPv6 metadata (unique local)
        "http://10.0.0.1/hooks",
        "http://172.16.5.4/hooks",
        "http://192.168.1.10/hooks",
        "http://[::ffff:10.0.0.1]/hooks",  # IPv4-mapped IPv6 is the IPv4 address
        "http://100.64.0.1/hooks",  # shared address space (carrier-grade NAT)
        "http://127.0.0.2/hooks",  # loopback, but not the allowed 127.0.0.1
        "http://localhost./hooks",
        "http://167772161/hooks",  # 10.0.0.1 spelled as a number
        "http://0.0.0.0/hooks",
        "http://[::1]/hooks",
        "http://224.0.0.1/hooks",  # multicast
    ],
)
def test_internal_addresses_are_refused(url):
    with pytest.raises(DestinationRefusedError) as refused:
        resolve(url, LOOPBACK_ALLOWED)
    assert refused.value.field == "url"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hooks",
        "http://user:pw@127.0.0.1/hooks",
        "not a url",
        "https:///nohost",
        "",
        None,
        "http://127.0.0.1:0/hooks",
        "http://127.0.0.1:99999/hooks",
        "http://127.0.0.1/ho oks",
    ],
)
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


# IPv6 addresses that carry an IPv4 one: (address, the IPv4 addresses inside it).
NONE = "0.0.0.0"  # noqa: S104 (an address read out of another, nothing binds to it)
EMBEDDED = {
    "nat64_well_known": ("64:ff9b::a9fe:a9fe", ("169.254.169.254",)),
    "nat64_local_use_96": ("64:ff9b:1::7f00:1", (NONE, NONE, "0.0.0.127", "127.0.0.1")),
    "nat64_local_use_48": ("64:ff9b:1:a9fe:a9:fe00::", ("169.254.169.254", "254.169.254.0", "169.254.0.0", NONE)),
    "sixtofour": ("2002:7f00:1::", ("127.0.0.1",)),
    "sixtofour_with_host_bits": ("2002:a00:1:5::1", ("10.0.0.1",)),
    "teredo": ("2001:0:4136:e378:8000:63bf:80ff:fffe", ("65.54.227.120", "127.0.0.1")),
    "ipv4_compatible": ("::127.0.0.1", ("127.0.0.1",)),
    "ipv4_mapped": ("::ffff:10.0.0.1", ("10.0.0.1",)),
    "ipv4_translated": ("::ffff:0:169.254.169.254", ("169.254.169.254",)),
    "plain_ipv6": ("2606:4700::1111", ()),
    "ipv4": ("8.8.8.8", ()),
}


@pytest.mark.parametrize(("address", "inside"), EMBEDDED.values(), ids=EMBEDDED.keys())
def test_embedded_ipv4_addresses_are_unwrapped(address, inside):
    unwrapped = embedded_ipv4_addresses(ipaddress.ip_address(address))
    assert unwrapped == tuple(ipaddress.IPv4Address(item) for item in inside)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
        "64:ff9b::7f00:1",  # NAT64 of loopback
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64 prefix: never global, whatever it carries
        "2002:7f00:1::",  # 6to4 of loopback
        "2002:a9fe:a9fe::1",  # 6to4 of metadata
        "2002:c0a8:101::",  # 6to4 of 192.168.1.1
        "2001:0:808:808::5601:5601",  # Teredo, client 169.254.169.254 (XOR-ed)
        "::127.0.0.1",  # IPv4-compatible loopback
        "::169.254.169.254",  # IPv4-compatible metadata
        "::ffff:0:127.0.0.1",  # IPv4-translated loopback
        "::ffff:100.64.0.1",  # IPv4-mapped shared address space
        "3fff::1",  # documentation (RFC 9637)
        "fec0::1",  # site-local (deprecated)
    ],
)
def test_an_ipv6_address_is_refused_when_it_or_the_ipv4_inside_it_is_internal(address):
    assert not DestinationPolicy().is_allowed_address(ipaddress.ip_address(address))
    with pytest.raises(DestinationRefusedError) as refused:
        resolve(f"https://[{address}]/hooks", DestinationPolicy())
    assert refused.value.field == "url"


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_an_ipv6_address_carrying_a_public_ipv4_is_allowed(address):
    assert resolve(f"https://[{address}]/hooks", DestinationPolicy()).address == address


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1", "::ffff:0:127.0.0.1"])
def test_allowing_an_ipv4_address_does_not_allow_a_gateway_spelling_of_it(address):
    with pytest.raises(DestinationRefusedError):
        resolve(f"http://[{address}]/hooks", LOOPBACK_ALLOWED)
    allowed = resolve("http://[::ffff:127.0.0.1]/hooks", LOOPBACK_ALLOWED)  # the same host, not a gateway's
    assert ipaddress.ip_address(allowed.address) == ipaddress.ip_address("::ffff:127.0.0.1")


@pytest.mark.parametrize("resolved", ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "::ffff:0:a9fe:a9fe"])
def test_a_name_resolving_to_an_embedded_internal_address_is_refused_at_delivery(monkeypatch, resolved):
    """The same rule holds for what DNS answers (checked again before each attempt), not only for literals."""

    def getaddrinfo(host, port, *args, **kwargs):
        assert host == "hooks.example.com"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (resolved, port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(DestinationRefusedError, match="may not be sent to"):
        resolve("https://hooks.example.com/hooks", DestinationPolicy())
