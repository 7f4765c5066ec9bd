"""``ripcity sandbox``: the local marketplace simulator."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run the local marketplace simulator.", no_args_is_help=True)


@app.command()
def serve(
    host: str = typer.Option(None, help="interface to listen on [RIPCITY_SANDBOX_HOST]"),
    port: int = typer.Option(None, help="port (0 = any free port) [RIPCITY_SANDBOX_PORT]"),
    seed: int = typer.Option(None, help="world seed [RIPCITY_SANDBOX_SEED]"),
    events: int = typer.Option(None, min=1, help="number of events [RIPCITY_SANDBOX_EVENTS]"),
    listings_per_event: int = typer.Option(
        None, min=0, help="live listings per event, all marketplaces together "
        "[RIPCITY_SANDBOX_LISTINGS_PER_EVENT]"),
    faults: str = typer.Option("light", help="fault mix: none | light | heavy"),
    clock_speed: float = typer.Option(
        0.0, min=0.0, help="simulated seconds per real second (0 = moves only when told)"),
) -> None:
    """Serve all four marketplaces on one port until Ctrl-C."""
    from engine.settings import get_settings
    from sandbox.app import SandboxConfig
    from sandbox.faults import PRESETS
    from sandbox.server import serve as run

    if faults not in PRESETS:
        raise typer.BadParameter(f"{faults!r}: use one of {', '.join(PRESETS)}",
                                 param_hint="--faults")
    s = get_settings()
    config = SandboxConfig(
        seed=s.sandbox_seed if seed is None else seed,
        events=s.sandbox_events if events is None else events,
        listings_per_event=(s.sandbox_listings_per_event if listings_per_event is None
                            else listings_per_event),
        faults=faults, clock_speed=clock_speed)

    def announce(info: dict) -> None:
        typer.echo(f"sandbox marketplaces (seed {config.seed}, {config.events} events, "
                   f"~{config.listings_per_event} listings each, faults {faults}):")
        for name, url in info["urls"].items():
            typer.echo(f"  {name:<13} {url}")
        creds = ", ".join(f"{m}={c!r}" for m, c in info["credentials"].items())
        typer.echo(f"credentials accepted: {creds}")
        typer.echo("ticketmaster ?apikey=, seatgeek ?client_id=, eventbrite and stubhub "
                   "'Authorization: Bearer <credential>'; stubhub_web needs none")
        typer.echo(f"clock: {info['base_url']}/_sandbox/clock  truth: "
                   f"{info['base_url']}/_sandbox/truth/events  (Ctrl-C stops)")

    try:
        run(config, host or s.sandbox_host, s.sandbox_port if port is None else port, announce)
    except KeyboardInterrupt:
        pass
    except OSError as err:
        typer.secho(str(err), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
