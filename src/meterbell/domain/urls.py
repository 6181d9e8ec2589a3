"""Which webhook URLs meterbell may call."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook target, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an absolute http:// or https:// URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    if port == 0:
        return "must not use port 0"
    return None


# IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64 (the well-known prefix, and the
# /96 layout of the local-use prefix), IPv4-compatible and IPv4-translated addresses.
IPV4_IN_LAST_32_BITS = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in ("64:ff9b::/96", "64:ff9b:1::/96", "::/96", "::ffff:0:0:0/96")
)
# The local-use NAT64 prefix may place the IPv4 address elsewhere (RFC 6052 layouts /48 to
# /64), where it cannot be told apart from other bits: outside its /96 layout it is refused.
LOCAL_USE_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
LAST_32_BITS = 0xFFFFFFFF


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 addresses `ip` carries (and would reach through a translator or tunnel), or
    None if it carries none."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client), the client's bits already un-XORed
    if any(ip in prefix for prefix in IPV4_IN_LAST_32_BITS):
        return (ipaddress.IPv4Address(int(ip) & LAST_32_BITS),)
    return None


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def is_public_address(address: str) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified addresses,
    and for IPv6 addresses that embed such an IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped,
    -compatible or -translated): those are judged by the IPv4 address inside them."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public(ip)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return all(_is_public(inner) for inner in embedded)
    return ip not in LOCAL_USE_NAT64 and _is_public(ip)
