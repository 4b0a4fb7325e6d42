"""Which network addresses the fetcher may connect to, decided on resolved addresses.

A feed URL, or any redirect it answers with, is attacker-chosen data: left alone, a hostile
feed could make the daemon request internal services (a cloud metadata endpoint at
169.254.169.254, an admin port on 127.0.0.1, a router on 192.168.0.1). So by default every
hop's host is resolved here, every address it resolves to is judged, and the fetcher
connects only to an address judged here — never to a name it would resolve again, which
is what defeats DNS rebinding (a name that answers "public" to the check and "127.0.0.1"
to the connect).

Standard library only: the rules are `ipaddress`'s properties, with IPv6 forms that embed
an IPv4 address (IPv4-mapped, 6to4, NAT64) judged by the address they embed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

from tracker.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to, as strings, in the order to try them.
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
# RFC 6761: these names resolve to loopback by definition, whatever DNS says.
_LOOPBACK_NAMES = ("localhost", ".localhost")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would reach (mapped, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why a connection to `address` is refused by default ("loopback", …), or None if public."""
    inner = embedded_ipv4(address)
    if inner is not None:
        problem = address_problem(inner)
        return f"{problem} (as {inner})" if problem else None
    # Order matters: the most telling name first (::1 is also "reserved", 169.254.x also
    # "private"), and multicast before is_global, which counts 224.0.0.0/4 as global.
    checks = (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
              ("link-local", address.is_link_local), ("multicast", address.is_multicast),
              ("private", address.is_private),
              ("site-local", getattr(address, "is_site_local", False)),
              ("reserved", address.is_reserved),
              # 100.64.0.0/10 (carrier-grade NAT) and the like: not private, not public either.
              ("non-public", not address.is_global))
    return next((name for name, hit in checks if hit), None)


def _a(word: str) -> str:
    """`word` with its indefinite article ("an unspecified", "a private")."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host denotes by itself (no DNS), or None for a name.

    Besides the standard forms this reads the legacy IPv4 spellings resolvers accept
    ("127.1", "2130706433", "0x7f.0.0.1"), which would otherwise slip past a check.
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or not all(c in "0123456789abcdefxABCDEFX." for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def local_host_problem(host: str) -> str | None:
    """Why a URL host is local before any DNS is asked (a literal address or localhost), or None."""
    name = host.strip("[]").rstrip(".").lower()
    if name == _LOOPBACK_NAMES[0] or name.endswith(_LOOPBACK_NAMES[1]):
        return f"{host} is a loopback name"
    literal = literal_address(name)
    problem = address_problem(literal) if literal is not None else None
    return f"{host} is {_a(problem)} address" if problem else None


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system (getaddrinfo), in the order it recommends."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class AddressGuard:
    """Resolves a host once and says which of its addresses may be connected to."""

    def __init__(self, allow_private: bool = False, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    def blocked_reason(self, address: IPAddress, port: int) -> str | None:
        """Why `address:port` is refused, or None; tests override this to admit a local server."""
        return None if self.allow_private else address_problem(address)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` to connect to, in the resolver's order.

        Refused addresses are dropped; when none is left, BlockedAddressError is raised,
        before any connection is attempted. A resolution failure raises OSError.
        """
        literal = literal_address(host)
        resolved = [str(literal)] if literal is not None else list(dict.fromkeys(self.resolver(host, port)))
        if not resolved:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} resolved to no address")
        verdicts = [(text, self.blocked_reason(ipaddress.ip_address(text), port)) for text in resolved]
        allowed = [text for text, reason in verdicts if reason is None]
        if allowed:
            return allowed
        if literal is not None:
            raise BlockedAddressError(f"{host} is {_a(verdicts[0][1])} address")
        refused = ", ".join(f"{text} ({reason})" for text, reason in verdicts[:4])
        raise BlockedAddressError(f"{host} resolves to {refused}")
