"""Which IP addresses are public, seeing through IPv6 addresses that carry an IPv4 one.

A NAT64 gateway, a 6to4 relay or a Teredo tunnel delivers a packet for such an IPv6 address to the IPv4 address
inside it, so ``http://[64:ff9b::a9fe:a9fe]/`` reaches the cloud metadata service as surely as
``http://169.254.169.254/`` does. Every embedded IPv4 address is therefore judged by the same rules as the IPv6
address around it, and either failing refuses the whole. The Python standard library's own tables change between
versions (3.11 calls 2002::/16 and 64:ff9b:1::/48 global), so the ranges that matter are listed here.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address

_NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")  # RFC 6052 §2.1
_NAT64_LOCAL_USE = IPv6Network("64:ff9b:1::/48")  # RFC 8215: the operator picks a prefix of /48 to /96 inside it
_SIX_TO_FOUR = IPv6Network("2002::/16")  # RFC 3056 §2
_TEREDO = IPv6Network("2001::/32")  # RFC 4380 §4
_IPV4_COMPATIBLE = IPv6Network("::/96")  # RFC 4291 §2.5.5.1 (deprecated, still routed by some stacks)
_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")  # RFC 4291 §2.5.5.2
_IPV4_TRANSLATED = IPv6Network("::ffff:0:0:0/96")  # RFC 2765 §2.1 (SIIT)

# Not globally reachable (IANA IPv6 special-purpose registry), whatever this Python's ``is_global`` says.
_NOT_GLOBAL_IPV6 = (
    _NAT64_LOCAL_USE,
    IPv6Network("100::/64"),
    IPv6Network("2001::/23"),
    IPv6Network("2001:db8::/32"),
    IPv6Network("3fff::/20"),
    IPv6Network("5f00::/16"),
    IPv6Network("fc00::/7"),
    IPv6Network("fe80::/10"),
    IPv6Network("fec0::/10"),
)


def embedded_ipv4_addresses(address: IPAddress) -> tuple[IPv4Address, ...]:
    """Every IPv4 address an IPv6 address may carry: NAT64 (well-known and local-use prefixes), 6to4, Teredo
    (server and client), IPv4-compatible, -mapped and -translated. Empty for an IPv4 address or a plain IPv6 one."""
    if not isinstance(address, IPv6Address):
        return ()
    value = int(address)
    if (
        address in _NAT64_WELL_KNOWN
        or address in _IPV4_COMPATIBLE
        or address in _IPV4_MAPPED
        or address in _IPV4_TRANSLATED
    ):
        return (IPv4Address(value & 0xFFFFFFFF),)
    if address in _SIX_TO_FOUR:
        return (IPv4Address((value >> 80) & 0xFFFFFFFF),)
    if address in _TEREDO:
        server = (value >> 64) & 0xFFFFFFFF
        client = (value & 0xFFFFFFFF) ^ 0xFFFFFFFF  # RFC 4380 §4: the client address is obfuscated
        return (IPv4Address(server), IPv4Address(client))
    if address in _NAT64_LOCAL_USE:
        return tuple(_rfc6052_ipv4(value, length) for length in (48, 56, 64, 96))
    return ()


def _rfc6052_ipv4(value: int, prefix_length: int) -> IPv4Address:
    """The IPv4 address at the place RFC 6052 §2.2 puts it for this prefix length (bits 64-71 are skipped)."""
    octets = value.to_bytes(16, "big")
    start = prefix_length // 8
    embedded = [octets[i] for i in range(start, 16) if i != 8][:4]
    return IPv4Address(bytes(embedded))


def is_public_address(address: IPAddress) -> bool:
    """Globally reachable unicast, and so is every IPv4 address it carries."""
    return all(_is_public(candidate) for candidate in (address, *embedded_ipv4_addresses(address)))


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, IPv6Address) and any(address in network for network in _NOT_GLOBAL_IPV6):
        return False
    return address.is_global and not address.is_multicast
