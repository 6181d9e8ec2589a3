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


def is_public_address(address: str) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
