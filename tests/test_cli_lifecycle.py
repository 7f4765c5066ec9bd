"""What operators meet, on the real commands: ``ripcity run`` on a fresh install says where to
go (dashboard, API docs, /metrics, a one-time link that creates the first administrator),
listens on loopback only, and SIGTERM stops it and everything it started (Ray, the sandbox,
the embedded PostgreSQL); a signal during start-up stops it too; a second signal forces;
``ripcity alerts dispatch`` stops the same way; a short command leaves nothing running."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from bench.harness import free_port
from engine.cli.stopping import STOPPED_CLEANLY
from storage.embedded import running_server
from tests.commands import Command, clean_env, still_running

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(embedded_data_dir: Path) -> Path:
    return embedded_data_dir


def _run_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A small world: 2 events, few listings, one crawl worker, ports of our own."""
    small = {"RIPCITY_DATA_DIR": str(data_dir), "RIPCITY_SANDBOX_PORT": "0",
             "RIPCITY_SANDBOX_EVENTS": "2", "RIPCITY_SANDBOX_LISTINGS_PER_EVENT": "30",
             "RIPCITY_CRAWL_WORKERS": "1"}
    return clean_env(**{**small, **extra})


def _assert_stopped_cleanly(cmd: Command, family: list[psutil.Process]) -> str:
    code, out = cmd.finish(90)
    assert code == 0, out
    assert out.rstrip().splitlines()[-1] == STOPPED_CLEANLY, out
    assert "Traceback" not in out
    assert still_running(family) == []
    return out


def _listening(procs: list[psutil.Process]) -> set[str]:
    addresses = set()
    for proc in procs:
        try:
            for c in proc.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    addresses.add(c.laddr.ip)
        except psutil.Error:
            pass
    return addresses


def test_run_on_a_fresh_install_says_where_to_go_and_stops_cleanly(data_dir: Path) -> None:
    port = free_port()
    cmd = Command("run", "--sandbox-faults", "none",
                  env=_run_env(data_dir, RIPCITY_API_PORT=str(port)), data_dir=data_dir)
    try:
        where = cmd.wait_for(r"dashboard: (\S+)/ +API docs: (\S+) +metrics: (\S+)")
        base = f"http://127.0.0.1:{port}"
        assert where.groups() == (base, f"{base}/schema", f"{base}/metrics")
        link = cmd.wait_for(r"no administrator yet: create one at (\S+)").group(1)
        assert link.startswith(f"{base}/setup?token=")
        assert httpx.get(f"{base}/").status_code == 200
        assert httpx.get(f"{base}/schema/openapi.json").status_code == 200
        assert "ripcity" in httpx.get(f"{base}/metrics").text

        with httpx.Client(base_url=base) as browser:
            form = browser.get(link)
            assert form.status_code == 200 and "Create the administrator account" in form.text
            token = link.split("token=", 1)[1]
            made = browser.post("/setup", data={"token": token, "email": "boss@example.com",
                                                "password": "a long enough secret"})
            assert made.status_code == 303 and made.headers["location"] == "/ops"
            ops = browser.get("/ops")
            assert ops.status_code == 200 and "Operations" in ops.text
        with httpx.Client(base_url=base) as stranger:  # the link works once
            again = stranger.get(link)
            assert again.status_code == 404 and "already used" in again.text
            reuse = stranger.post("/setup", data={"token": token, "email": "x@example.com",
                                                  "password": "another long secret"})
            assert reuse.status_code == 404

        family = cmd.family()
        names = " ".join(p.name() for p in family)
        assert "raylet" in names and "gcs_server" in names and "postgres" in names
        sandbox = [p.cmdline() for p in family if "sandbox.server" in " ".join(p.cmdline())]
        assert len(sandbox) == 1 and "--faults none" in " ".join(sandbox[0])
        # safe by default: Ray, the sandbox, the API listen on loopback; PostgreSQL on none
        listening = _listening([*family, psutil.Process(cmd.proc.pid)])
        assert listening and all(ip in ("127.0.0.1", "::ffff:127.0.0.1") for ip in listening)

        cmd.signal(signal.SIGTERM)
        _assert_stopped_cleanly(cmd, family)
    finally:
        cmd.kill()


@pytest.mark.parametrize(("args", "moment", "not_after"), [
    (("--no-api",), r"starting: database", "crawling"),  # it stops instead of going on
    (("--once",), r"crawling the local sandbox", "cycle_seconds"),  # no summary: stopped
], ids=["during-start-up", "during-run-once"])
def test_a_signal_while_starting_or_in_one_cycle_stops_cleanly(
        data_dir: Path, args: tuple[str, ...], moment: str, not_after: str) -> None:
    env = _run_env(data_dir, RIPCITY_SANDBOX_EVENTS="30", RIPCITY_SANDBOX_LISTINGS_PER_EVENT="300")
    cmd = Command("run", *args, env=env, data_dir=data_dir)
    try:
        cmd.wait_for(moment)
        family = cmd.family()
        cmd.signal(signal.SIGTERM)
        out = _assert_stopped_cleanly(cmd, family)
        assert not_after not in out
        assert running_server(data_dir) is None
    finally:
        cmd.kill()


def test_a_second_signal_forces(data_dir: Path) -> None:
    cmd = Command("run", "--no-api", env=_run_env(data_dir), data_dir=data_dir)
    try:
        cmd.wait_for(r"crawling the local sandbox")
        family = cmd.family()
        cmd.signal(signal.SIGINT)
        cmd.wait_for(r"SIGINT: stopping")
        cmd.signal(signal.SIGINT)
        code, out = cmd.finish(60)
        assert code == 1, out
        forced = [line for line in out.splitlines() if "forced stop" in line]
        assert len(forced) == 1 and "killed" in forced[0], out
        assert STOPPED_CLEANLY not in out and "Traceback" not in out
        assert still_running(family) == []
    finally:
        cmd.kill()


def test_alerts_dispatch_stops_cleanly_and_short_commands_leave_nothing(
        data_dir: Path) -> None:
    env = clean_env(RIPCITY_DATA_DIR=str(data_dir), RIPCITY_SMTP_PORT=str(free_port()))
    migrate = Command("db", "migrate", env=env, data_dir=data_dir)
    try:
        code, out = migrate.finish(120)
        assert code == 0, out
        assert running_server(data_dir) is None  # it started the server, and stopped it
    finally:
        migrate.kill()

    cmd = Command("alerts", "dispatch", "--channels", "email", env=env, data_dir=data_dir)
    try:
        cmd.wait_for(r"dispatching email")
        family = cmd.family()
        assert any("postgres" in p.name() for p in family)
        cmd.signal(signal.SIGTERM)
        _assert_stopped_cleanly(cmd, family)
    finally:
        cmd.kill()
    assert os.path.isdir(data_dir / "pg")
