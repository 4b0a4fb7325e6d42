"""The network under the fetcher: httpx's transport over httpcore's socket backend, every
TCP connection (the first hop's and each redirect's) opened only to an address the
`AddressGuard` has checked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from tracker.addresses import AddressGuard


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard has checked."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.addresses(host, port)  # BlockedAddressError passes through
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        # Connecting to the checked literal means nothing resolves the name again
        # (DNS rebinding); TLS still verifies and sends SNI for the name, not the address.
        for n, address in enumerate(addresses, 1):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                # The next address, as socket.create_connection would try it.
                if n == len(addresses):
                    raise
        raise httpcore.ConnectError(f"no address for {host}")  # unreachable: addresses is never empty


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport, over a connection pool whose connects go through the guard."""

    def __init__(self, guard: AddressGuard) -> None:
        # HTTPTransport.__init__ is skipped on purpose: it would build an unguarded pool
        # (and load the CA bundle for it). Its methods use nothing but `self._pool`.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=GuardedBackend(guard))
