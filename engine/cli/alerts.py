"""``ripcity alerts``: run a dispatcher, send a test email or SMS, show the outbox."""

from __future__ import annotations

import typer

app = typer.Typer(help="Price alerts: dispatch the outbox by email (SMTP) and SMS (Twilio).",
                  no_args_is_help=True)


@app.command()
def dispatch(
    channels: str = typer.Option("email,sms,webhook",
                                 help="comma-separated channels to send"),
    database_url: str | None = typer.Option(None, help="default: RIPCITY_DATABASE_URL"),
    coalesce_seconds: float | None = typer.Option(
        None, help="minimum gap between two messages to one person on one channel "
        "(default: RIPCITY_ALERT_COALESCE_SECONDS)"),
    daily_cap: int | None = typer.Option(
        None, help="messages per person, channel and local day (default: "
        "RIPCITY_ALERT_DAILY_CAP)"),
    batch_size: int = typer.Option(100, help="outbox rows claimed per transaction"),
    send_workers: int | None = typer.Option(
        None, help="messages sent at once (default: RIPCITY_ALERT_SEND_WORKERS)"),
    max_attempts: int | None = typer.Option(
        None, help="attempts per message (default: RIPCITY_ALERT_MAX_ATTEMPTS)"),
    once: bool = typer.Option(False, help="send what is due now, then exit"),
) -> None:
    """Run one dispatcher (run several for throughput: they share work safely); Ctrl-C or
    SIGTERM stops it cleanly (twice: at once)."""
    import logging

    from engine.alerts.background import options_from_settings
    from engine.alerts.dispatcher import Dispatcher, build_senders
    from engine.cli.stopping import StopSignals, stopped_cleanly
    from engine.settings import get_settings
    from storage.db import resolve_database_url

    stop = StopSignals().install()
    settings = get_settings()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    wanted = [c.strip() for c in channels.split(",") if c.strip()]
    if "sms" in wanted and not settings.twilio_account_sid:
        typer.secho("TWILIO_ACCOUNT_SID is not set: sending email only", err=True,
                    fg=typer.colors.YELLOW)
        wanted.remove("sms")
    try:
        senders = build_senders(settings, wanted, database_url)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    options = options_from_settings(settings, batch_size=batch_size,
                                    send_workers=send_workers,
                                    coalesce_seconds=coalesce_seconds, daily_cap=daily_cap,
                                    max_attempts=max_attempts)
    dispatcher = Dispatcher(database_url or resolve_database_url(settings), senders, options)
    try:
        if once:
            total = 0
            while (n := dispatcher.run_once()):
                total += n
            typer.echo(f"handled {total} outbox rows: {dict(dispatcher.counts)}")
            return
        typer.echo(f"dispatching {', '.join(senders)} (Ctrl-C or SIGTERM stops it)", err=True)
        dispatcher.run(stop.event)
    finally:
        dispatcher.close()
    from storage.embedded import release_embedded

    for data_dir in release_embedded():
        typer.echo(f"stopped the embedded PostgreSQL in {data_dir}")
    stopped_cleanly()


@app.command("test-email")
def test_email(to: str = typer.Argument(..., help="recipient address")) -> None:
    """Send a sample alert email through the configured SMTP server."""
    from engine.alerts.channels.base import Outgoing, SendFailure
    from engine.alerts.channels.email import SmtpSender
    from engine.settings import get_settings

    settings = get_settings()
    sender = SmtpSender(settings)
    try:
        sent = sender.send(Outgoing(key="test-email", user_id=0, to=to, payloads=[_SAMPLE]))
    except SendFailure as err:
        typer.secho(f"not sent: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from err
    finally:
        sender.close()
    typer.echo(f"sent {sent.provider_id} via {settings.smtp_host}:{settings.smtp_port}")


@app.command("test-sms")
def test_sms(to: str = typer.Argument(..., help="E.164 number, e.g. +15035550100")) -> None:
    """Send a sample alert SMS through Twilio (or TWILIO_API_BASE)."""
    from engine.alerts.channels.base import Outgoing, SendFailure
    from engine.alerts.channels.sms import TwilioSender
    from engine.settings import get_settings

    try:
        sender = TwilioSender(get_settings())
        sent = sender.send(Outgoing(key="test-sms", user_id=0, to=to, payloads=[_SAMPLE]))
    except (ValueError, SendFailure) as err:
        typer.secho(f"not sent: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from err
    typer.echo(f"sent {sent.provider_id} ({sent.status})")


@app.command()
def status(database_url: str | None = typer.Option(None)) -> None:
    """Outbox rows by channel and status."""
    from storage.alerts.outbox import outbox_counts
    from storage.db import connect

    with connect(database_url) as conn:
        counts = outbox_counts(conn)
    for c in counts:
        typer.echo(f"{c.channel:6} {c.status:10} {c.rows}")


_SAMPLE = {"matches": [{
    "kind": "price_at_or_below", "event_id": 0, "event_name": "Trail Blazers vs. Lakers",
    "marketplace": "seatgeek", "section": "112", "row": "5", "quantity": 2,
    "old_total_cents": 12_000, "total_cents": 8_500, "url": "https://seatgeek.com/",
}]}
