"""``ripcity run``: the main job (crawl on schedule, score, alert, serve the API)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, get_args

import typer

if TYPE_CHECKING:
    from engine.cli.stopping import StopSignals
    from engine.session import Session
    from engine.settings import Settings

app = typer.Typer(add_completion=False)

RayAddress = typer.Option(None, "--ray-address", envvar="RIPCITY_RAY_ADDRESS",
                          help="join this Ray cluster instead of starting Ray locally")


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="crawl cycle summary", show_header=False)
    # written / live / scored / unscored / quarantined / matched: counted in the database
    for key in ("cycle_seconds", "events", "total_shards", "total_pages", "total_listings",
                "written", "total_new_listings", "total_price_changes", "total_gone",
                "live", "scored", "unscored", "deals", "matched", "total_rejects",
                "quarantined", "scoring_pending", "matching_pending", "post_commit_failed",
                "errors", "failed", "requeued"):
        table.add_row(key.removeprefix("total_"), str(summary.get(key, 0)))
    for kind, graded in (summary.get("identity") or {}).items():
        table.add_row(f"{kind[:-1]} identity", f"precision {graded['precision']:.4f}  recall "
                      f"{graded['recall']:.4f}  ({graded['records']} ids, {graded['pairs']} "
                      "true pairs, against the sandbox's truth)")
    Console().print(table)
    for kind, graded in (summary.get("identity") or {}).items():
        for miss in graded.get("misses") or []:
            typer.secho(f"{kind[:-1]} identity miss: {miss}", err=True, fg=typer.colors.YELLOW)
    for err in summary.get("last_errors") or []:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.YELLOW)


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="run one full crawl cycle and exit"),
    ray_address: str | None = RayAddress,
    workers: int | None = typer.Option(None, help="crawl workers (RIPCITY_CRAWL_WORKERS)"),
    speed: float | None = typer.Option(
        None, help="run the re-crawl schedule this many times faster "
        "(default: 1, or the sandbox clock's speed)"),
    sandbox_clock: float = typer.Option(
        60.0, help="sandbox only: simulated seconds per real second, so prices move"),
    sandbox_faults: str | None = typer.Option(
        None, "--sandbox-faults", help="sandbox only: faults it injects, none | light | heavy "
        "(default RIPCITY_SANDBOX_FAULTS)"),
    serve_api: bool = typer.Option(True, "--api/--no-api", help="serve the API and dashboard"),
    dispatch: bool = typer.Option(
        True, "--dispatch/--no-dispatch",
        help="send the alerts from this process: email (RIPCITY_SMTP_*), webhooks, SMS once "
        "Twilio is configured (--no-dispatch: `ripcity alerts dispatch` runs elsewhere; "
        "--once only matches)"),
    timeout: float = typer.Option(3600.0, help="--once: give up after this many seconds"),
) -> None:
    """Crawl continuously on the schedule, score, match and send alerts, and serve the API
    and dashboard.

    With nothing configured: the embedded database, the local sandbox marketplace and a
    local Ray instance are started for you. Ctrl-C or SIGTERM stops everything (twice: at
    once).
    """
    from engine.cli.stopping import StopSignals, stopped_cleanly
    from engine.session import StartInterrupted, engine_session
    from engine.settings import SandboxFaults, get_settings

    stop = StopSignals().install()
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s "
                        "%(name)s: %(message)s")
    if sandbox_faults is not None and sandbox_faults not in get_args(SandboxFaults):
        raise typer.BadParameter(f"{sandbox_faults!r} is not one of "
                                 f"{', '.join(get_args(SandboxFaults))}",
                                 param_hint="--sandbox-faults")
    sandbox = not settings.marketplace_keys_set
    _check_ports(settings, api=serve_api and not once, sandbox=sandbox)
    overrides: dict[str, Any] = {}
    sandbox_options: dict[str, Any] = {}
    if sandbox:
        sandbox_options["clock_speed"] = 0.0 if once else sandbox_clock
        start = settings.sandbox_start or (None if once else datetime.now(UTC).date())
        if start is not None:  # a live run's season starts today: its events are upcoming
            sandbox_options["start"] = start.isoformat()
        if dispatch and not once and _local_mail_free(settings):
            sandbox_options["smtp_port"] = settings.smtp_port  # the sandbox's inbox
        if sandbox_faults is not None:
            sandbox_options["faults"] = sandbox_faults
        overrides["speed"] = speed or max(1.0, sandbox_options["clock_speed"])
    else:
        overrides["speed"] = speed or 1.0
    if workers:
        overrides["crawl_workers"] = workers
    typer.echo("starting: database, marketplaces, Ray (first start takes a few seconds)...")
    try:
        with engine_session(settings, ray_address=ray_address, continuous=not once,
                            sandbox_options=sandbox_options, stop=stop.event,
                            **overrides) as session:
            source = ("the local sandbox" if session.sandbox is not None
                      else "the configured marketplaces")
            typer.echo(f"crawling {source} with {len(session.engine.workers)} crawl workers")
            if once:
                summary = _one_cycle(session, stop.event, timeout)
                if summary is not None and session.sandbox is not None:
                    from engine.identity.quality import grade_against_sandbox

                    summary["identity"] = grade_against_sandbox(session.database_url,
                                                                session.sandbox.base_url)
                if summary is not None:
                    print_summary(summary)
                    if summary.get("failed"):
                        raise typer.Exit(1)
                    return
            else:
                _serve(session, stop, serve_api, dispatch)
    except StartInterrupted:
        pass
    stopped_cleanly()


def _one_cycle(session: Session, stop: threading.Event, timeout: float
               ) -> dict[str, Any] | None:
    """``run_cycle`` in a thread, so a signal is answered at once: None when stopped (the
    session's exit then stops the engine, which ends the cycle)."""
    outcome: dict[str, Any] = {}

    def cycle() -> None:
        try:
            outcome["summary"] = session.engine.run_cycle(timeout=timeout)
        except Exception as err:  # handed to the main thread below
            outcome["error"] = err

    worker = threading.Thread(target=cycle, name="run-once", daemon=True)
    worker.start()
    while worker.is_alive() and not stop.wait(0.5):
        pass
    if worker.is_alive():
        return None
    if "error" in outcome:
        raise outcome["error"]
    return dict(outcome["summary"])


def _local_mail_free(settings: Settings) -> bool:
    """True when email would go to a loopback port nothing listens on: the sandbox then
    runs an inbox there (sign-up links and alerts readable at ``/_sandbox/mail``)."""
    import ipaddress

    from engine.cli.errors import PortTaken, check_port_free

    try:
        loopback = ipaddress.ip_address(settings.smtp_host).is_loopback
    except ValueError:
        loopback = settings.smtp_host == "localhost"
    if not loopback or not settings.smtp_port:
        return False
    try:
        check_port_free("127.0.0.1", settings.smtp_port, what="email", setting="")
    except PortTaken:
        return False  # a mail server (or a test's inbox) is there
    return True


def _check_ports(settings: Settings, *, api: bool, sandbox: bool) -> None:
    """Fail in a second, before anything starts, on a port another program holds."""
    from engine.cli.errors import check_port_free, check_safe_to_expose

    if api:
        check_safe_to_expose(settings.api_host, settings.secret_key)
        check_port_free(settings.api_host, settings.api_port, what="the API and dashboard",
                        setting="RIPCITY_API_PORT")
    if sandbox:
        check_port_free(settings.sandbox_host, settings.sandbox_port,
                        what="the sandbox marketplace",
                        setting="RIPCITY_SANDBOX_PORT (0 = any free port)")


def _serve(session: Session, stop: StopSignals, serve_api: bool, dispatch: bool) -> None:

    from api.app import create_app
    from engine.alerts.background import DispatcherThread
    from engine.cli.api_server import ApiServer
    from engine.cli.status_view import StatusReporter
    from engine.cli.welcome import announce
    from engine.crawl.refresh import RefreshListener
    from engine.session import sandbox_clock_offset

    engine, settings = session.engine, session.settings
    api = url = None
    listener = None
    dispatcher = None
    try:
        if serve_api:
            api = ApiServer(create_app(settings, db_url=session.database_url),
                            settings.api_host, settings.api_port).start()
            url = api.wait_started(stop.event)
        listener = RefreshListener(session.database_url,
                                   lambda pairs: engine.refresh(engine.targets_for(pairs)),
                                   engine.wait_shards).start()
        if dispatch:
            dispatcher = DispatcherThread(settings, session.database_url).start()
            inbox = getattr(session.sandbox, "mail_url", None)
            typer.echo(f"sending alerts: {', '.join(dispatcher.channels)} (email "
                       + (f"to the sandbox inbox: {inbox}" if inbox else
                          f"through {settings.smtp_host}:{settings.smtp_port}")
                       + ("" if "sms" in dispatcher.channels else "; SMS once TWILIO_* is set")
                       + ")")
        if url is not None:
            announce(url, settings, session.database_url,
                     embedded=not settings.database_url)
        rediscover = 3600.0 / max(engine.options.speed, 1e-9)
        last_discover: float | None = None
        synced = time.monotonic()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per status poll
        with StatusReporter(url) as reporter:
            while not stop.event.is_set():
                if last_discover is None or time.monotonic() - last_discover >= rediscover:
                    engine.discover()
                    last_discover = time.monotonic()
                if session.sandbox is not None and time.monotonic() - synced >= 10:
                    synced = time.monotonic()  # the sandbox's simulated clock runs on
                    offset = sandbox_clock_offset(session.sandbox)
                    engine.set_clock_offset(offset)
                reporter.update(engine.status())
                stop.event.wait(0.5)
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        if listener is not None:
            listener.stop()
        if api is not None:
            api.stop()
