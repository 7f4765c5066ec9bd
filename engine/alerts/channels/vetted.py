"""An httpx transport that connects only to addresses the SSRF guard vetted.

The guard (``storage.webhook_urls``) resolves a webhook's host and refuses loopback,
private, link-local and metadata addresses; but a client that resolves the name again when
it connects may reach an address the guard never saw, if the name's DNS answer changed in
between (DNS rebinding). Here the resolving, the vetting and the connect are one step: an
httpcore network backend resolves the host with ``vetted_addresses`` and opens the TCP
connection to one of those addresses. Only the TCP connect is redirected: the request
keeps its ``Host`` header, and TLS keeps the host name for SNI and the certificate check.

No proxy from the environment is used (a proxy resolves names itself, out of our sight).
"""

from __future__ import annotations

import ssl
import time
from typing import TYPE_CHECKING

import certifi
import httpcore
import httpx

from storage.webhook_urls import vetted_addresses

if TYPE_CHECKING:
    from collections.abc import Iterable

    from httpcore._backends.base import SOCKET_OPTION


class VettedBackend(httpcore.NetworkBackend):
    """TCP connections to a vetted address of the host asked for (the first that answers)."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[SOCKET_OPTION] | None = None,
                    ) -> httpcore.NetworkStream:
        failed: httpcore.ConnectError | None = None
        for addr in vetted_addresses(host, port, allow_private=self._allow_private):
            try:
                return self._tcp.connect_tcp(addr, port, timeout, local_address,
                                             socket_options)
            except httpcore.ConnectError as err:  # the next address, as a resolver would
                failed = err
        raise failed or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[SOCKET_OPTION] | None = None,
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks go over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class VettedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool uses :class:`VettedBackend`."""

    def __init__(self, *, allow_private: bool, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend (encode/httpx discussion 3180): the pool it built
        # is replaced by the same pool over ours
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=VettedBackend(allow_private=allow_private))
