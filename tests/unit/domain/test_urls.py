"""Which addresses a webhook may reach with private targets off: an IPv6 address that embeds
an IPv4 address is judged by the IPv4 address inside it."""

from __future__ import annotations

import pytest

from meterbell.domain.urls import is_public_address

PUBLIC = [
    "8.8.8.8",
    "2606:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped
    "64:ff9b::808:808",  # NAT64, well-known prefix
    "64:ff9b:1::808:808",  # NAT64, local-use prefix in its /96 layout
    "2002:808:808::1",  # 6to4
    "::808:808",  # IPv4-compatible
    "::ffff:0:808:808",  # IPv4-translated
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo: server 65.54.227.120, client 8.8.8.8
]

PRIVATE = [
    "127.0.0.1",
    "10.0.0.1",
    "169.254.169.254",
    "224.0.0.1",
    "::1",
    "::",
    "fe80::1%eth0",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
    "64:ff9b:1:7f:0:100::",  # local-use NAT64 in another layout: the IPv4 cannot be read
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "::a00:1",  # IPv4-compatible 10.0.0.1
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "::ffff:0:c0a8:101",  # IPv4-translated 192.168.1.1
    "2001:0:4136:e378:0:0:80ff:fffe",  # Teredo, client 127.0.0.1 (XORed)
    "2001:0:a00:1:0:0:f7f7:f7f7",  # Teredo, server 10.0.0.1, client 8.8.8.8
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_are_refused(address: str) -> None:
    assert not is_public_address(address)
