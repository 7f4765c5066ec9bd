"""Where a webhook may point: the SSRF guard the API applies when an endpoint is saved and
the dispatcher applies again before every delivery (DNS may have changed since), and once
more in the connect itself (``vetted_addresses``: the dispatcher's HTTP transport connects
only to an address it returned, so a name that resolves elsewhere a moment later -- DNS
rebinding -- gains nothing).

An ``http``/``https`` URL whose host resolves only to public addresses passes. Loopback,
private (RFC 1918, unique-local), link-local (cloud metadata at 169.254.169.254 included),
carrier-grade NAT, multicast, reserved and unspecified addresses are refused unless the
operator sets ``RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS`` (the tests run their receiver on
127.0.0.1 with it on). Credentials in the URL are refused: they would be logged.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from storage.errors import InvalidValue

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeUrl(InvalidValue):
    """The URL is malformed or points somewhere a webhook must not go."""


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, what in ((ip.is_loopback, "loopback"), (ip.is_link_local, "link-local"),
                       (ip.is_private, "private"), (ip.is_multicast, "multicast"),
                       (ip.is_reserved, "reserved"), (ip.is_unspecified, "unspecified")):
        if test:
            return what
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return "carrier-grade NAT"
    return None


def _bad(message: str) -> UnsafeUrl:
    return UnsafeUrl(message, errors=[{"field": "url", "message": message}])


def vetted_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """``host``'s addresses in the resolver's order, each one allowed; :class:`UnsafeUrl`
    saying why if ``host`` does not resolve or any address is not allowed."""
    host = host.rstrip(".").lower()
    if not allow_private and host in _METADATA_HOSTS:
        raise _bad(f"{host} is a cloud metadata host")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise _bad(f"{host} does not resolve ({err})") from None
    addrs = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not allow_private:
        for addr in addrs:
            why = _refused(ipaddress.ip_address(addr))
            if why:
                raise _bad(f"{host} resolves to {addr}, a {why} address: webhooks go to "
                           "public addresses only (an operator can allow private ones with "
                           "RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS)")
    return addrs


def check_webhook_url(url: str, *, allow_private: bool, resolve: bool = True) -> list[str]:
    """The addresses ``url``'s host resolves to; :class:`UnsafeUrl` saying why if any one
    of them is not allowed (or the URL is malformed / does not resolve)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise _bad("a webhook URL must not carry a user name or password")
    host = parts.hostname.rstrip(".").lower()
    if not allow_private and host in _METADATA_HOSTS:
        raise _bad(f"{host} is a cloud metadata host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _bad(f"{url!r} has an invalid port") from None
    if not resolve:
        return []
    return sorted(vetted_addresses(host, port, allow_private=allow_private))
