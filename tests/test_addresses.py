"""Which addresses the fetcher may reach: the classification, literal hosts, and resolution."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tracker.addresses import AddressGuard, address_problem, literal_address, local_host_problem
from tracker.errors import BlockedAddressError, FetchError


@pytest.mark.parametrize("address, problem", [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::fb", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "private"),           # reserved class E; ipaddress counts it private too
    ("100.64.0.1", "non-public"),       # carrier-grade NAT
    ("fec0::1", "site-local"),
    ("::ffff:127.0.0.1", "loopback (as 127.0.0.1)"),
    ("::ffff:169.254.169.254", "link-local (as 169.254.169.254)"),
    ("::ffff:10.1.1.1", "private (as 10.1.1.1)"),
    ("2002:7f00:1::1", "loopback (as 127.0.0.1)"),          # 6to4
    ("64:ff9b::7f00:1", "loopback (as 127.0.0.1)"),          # NAT64
    ("64:ff9b::a9fe:a9fe", "link-local (as 169.254.169.254)"),
    ("::7f00:1", "reserved"),           # deprecated IPv4-compatible form
])
def test_non_public_addresses_are_named(address: str, problem: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700::1111",
                                     "::ffff:93.184.215.14", "64:ff9b::808:808",
                                     "2002:5db8:d70e::1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("example.com", None), ("cafe", None), ("deadbeef", None), ("1.2.3.4.example", None),
])
def test_literal_addresses_include_legacy_ipv4_spellings(host: str, expected: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found is not None else None) == expected


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "feeds.localhost", "127.0.0.1",
                                  "::1", "169.254.169.254", "2130706433", "10.1.2.3"])
def test_local_hosts_are_known_without_dns(host: str) -> None:
    assert local_host_problem(host)


@pytest.mark.parametrize("host", ["www.khaama.com", "93.184.215.14", "localhost.example.com"])
def test_public_hosts_pass_without_dns(host: str) -> None:
    assert local_host_problem(host) is None


def test_guard_keeps_only_public_addresses_in_resolver_order() -> None:
    guard = AddressGuard(resolver=lambda host, port: ["127.0.0.1", "93.184.215.14", "10.0.0.1",
                                                      "2606:2800:21f::1", "93.184.215.14"])
    assert guard.addresses("mixed.example", 443) == ["93.184.215.14", "2606:2800:21f::1"]


def test_guard_refuses_a_name_with_only_local_addresses() -> None:
    guard = AddressGuard(resolver=lambda host, port: ["127.0.0.1", "::1"])
    with pytest.raises(BlockedAddressError) as caught:
        guard.addresses("rebind.example", 80)
    assert isinstance(caught.value, FetchError) and caught.value.kind == "blocked_address"
    assert caught.value.message == "rebind.example resolves to 127.0.0.1 (loopback), ::1 (loopback)"


def test_guard_checks_literals_without_asking_the_resolver() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("a literal address was looked up")

    guard = AddressGuard(resolver=resolver)
    with pytest.raises(BlockedAddressError, match="169.254.169.254 is a link-local address"):
        guard.addresses("169.254.169.254", 80)
    assert guard.addresses("93.184.215.14", 80) == ["93.184.215.14"]
    assert AddressGuard(allow_private=True, resolver=resolver).addresses("127.0.0.1", 80) == ["127.0.0.1"]


def test_allowing_private_addresses_allows_them_all() -> None:
    guard = AddressGuard(allow_private=True, resolver=lambda host, port: ["10.0.0.1", "127.0.0.1"])
    assert guard.addresses("intranet.example", 80) == ["10.0.0.1", "127.0.0.1"]


def test_a_name_with_no_address_is_a_resolution_error() -> None:
    with pytest.raises(socket.gaierror):
        AddressGuard(resolver=lambda host, port: []).addresses("empty.example", 80)
