"""Operational errors as one line that says what to do, never a traceback.

What operators meet (a port taken, the data directory locked, the database unreachable,
Ray unavailable) reaches ``engine.cli.main`` as one of the exceptions :func:`one_line`
knows, after the command's own ``finally`` blocks stopped what it had started; ``main``
prints the line and exits 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import socket


class PortTaken(RuntimeError):
    """A port a command must bind is in use (the message names the setting to change)."""


class ApiServerFailed(RuntimeError):
    """The API server gave up (uvicorn logged why just before)."""


class UnsafeExposure(RuntimeError):
    """Binding the API where other hosts reach it without the settings that needs."""


def check_safe_to_expose(host: str, secret_key: str | None) -> None:
    """Raise :class:`UnsafeExposure` when ``host`` is not loopback and the site key is the
    published default or too short (loopback binds are always allowed)."""
    from storage.secret_key import MIN_LENGTH, weakness
    from storage.settings import is_loopback

    if is_loopback(host):
        return
    why = weakness(secret_key or "")
    if why:
        raise UnsafeExposure(
            f"refusing to serve on {host}: RIPCITY_SECRET_KEY {why}; set it to {MIN_LENGTH}+ "
            "random characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe"
            "(32))'`), or unset it to use the key generated in RIPCITY_DATA_DIR, or bind "
            "127.0.0.1")


def check_port_free(host: str, port: int, *, what: str, setting: str) -> None:
    """Raise :class:`PortTaken` unless ``host:port`` can be bound now (port 0: any)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise PortTaken(f"port {port} on {host} ({what}) is taken: stop the program "
                            f"using it ({err.strerror}) or set {setting} to a free "
                            "port") from None


def one_line(err: BaseException) -> str | None:
    """The line to print for a known operational failure, else None."""
    import psycopg

    from engine.cluster import RayUnavailable
    from storage.embedded import EmbeddedServerError
    from storage.migrate import MigrationError

    if isinstance(err, PortTaken | ApiServerFailed | UnsafeExposure | RayUnavailable
                  | EmbeddedServerError):
        return str(err)
    if isinstance(err, MigrationError):
        return f"the database's migrations: {err}"
    if isinstance(err, psycopg.OperationalError):
        return (f"cannot reach the database ({_first_line(err)}): check "
                "RIPCITY_DATABASE_URL and that its server runs, or unset it to use the "
                "embedded PostgreSQL")
    return None


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:300] or type(err).__name__
