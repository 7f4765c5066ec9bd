"""Faults at the configured rates, retries that eventually succeed, malformed records that
truth marks, and each service's own error bodies."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from typer.testing import CliRunner

from sandbox.app import SandboxConfig, create_app
from tests.fixtures_sandbox import AsgiClient
from tests.waiting import wait_until


def _client(**kw) -> AsgiClient:
    return AsgiClient(create_app(SandboxConfig(**{"events": 12, "listings_per_event": 60,
                                                   "faults": "none", **kw})))


def _event(client: AsgiClient, m: str) -> dict:
    events = client.json("/_sandbox/truth/events")["events"]
    return next(e for e in events if m in e["ids"] and e["status"] == "onsale")


def test_faults_appear_at_configured_rates_and_retries_succeed() -> None:
    client = _client()
    client.post("/_sandbox/config", {"marketplaces": {"seatgeek": {
        "rate_limit": 0.2, "server_error": 0.1, "truncated": 0.05}}})
    statuses, truncated = [], 0
    for page in range(1, 1001):
        status, headers, body = client.get(f"/seatgeek/2/events?client_id=sandbox&page={page}")
        statuses.append(status)
        if status == 429:
            assert headers["retry-after"] == "1"
            assert json.loads(body)["status"] == 429
        if status == 200:
            try:
                json.loads(body)
            except ValueError:
                truncated += 1
    assert 0.16 < statuses.count(429) / 1000 < 0.24
    assert 0.07 < sum(s >= 500 for s in statuses) / 1000 < 0.13
    assert 0.03 < truncated / 1000 < 0.08
    stats = client.json("/_sandbox/stats")
    assert stats["faults"]["seatgeek"]["rate_limit"] == statuses.count(429)
    assert "ticketmaster" not in stats["faults"], "other marketplaces are untouched"
    # the same URL retried: independent draws per attempt, so it gets through
    for page in range(1, 30):
        url = f"/seatgeek/2/events?client_id=sandbox&per_page=3&page={page}"
        attempts = [client.get(url)[0] for _ in range(12)]
        assert 200 in attempts


def test_faults_are_deterministic_by_seed() -> None:
    def run(seed: int) -> list[int]:
        c = _client(seed=seed, faults="heavy")
        c.post("/_sandbox/config", {"all": {"slow_seconds": 0.001}})
        return [c.get(f"/seatgeek/2/events?client_id=sandbox&page={p}")[0] for p in range(200)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_malformed_records_are_fixed_and_marked_in_truth() -> None:
    client = _client()
    client.post("/_sandbox/config", {"all": {"malformed": 0.15}})
    e = _event(client, "seatgeek")
    url = f"/seatgeek/2/events/{e['ids']['seatgeek']}/listings?client_id=sandbox&per_page=500"
    page = client.json(url)["listings"]
    bad = {str(x["id"]) for x in page if x["price"] is None or x["quantity"] < 0
           or x["created_at"].startswith("2026-13")}
    truth = client.json(f"/_sandbox/truth/events/{e['world_event_id']}")
    marked = {x["marketplaces"]["seatgeek"]["listing_id"] for x in truth["listings"]
              if x["marketplaces"].get("seatgeek", {}).get("malformed")}
    assert bad and bad == marked
    assert client.json(url)["listings"] == page, "a malformed listing stays malformed"
    reasons = {x["marketplaces"]["seatgeek"]["malformed"] for x in truth["listings"]
               if x["marketplaces"].get("seatgeek", {}).get("malformed")}
    assert reasons <= {"missing_price", "negative_quantity", "bad_date"}


def test_bad_credentials_get_each_services_real_error() -> None:
    client = _client()
    tm = _event(client, "ticketmaster")["ids"]["ticketmaster"]
    status, _, body = client.get(f"/ticketmaster/discovery/v2/events/{tm}.json?apikey=nope")
    assert status == 401
    assert json.loads(body) == {"fault": {"faultstring": "Invalid ApiKey",
                                          "detail": {"errorcode": "oauth.v2.InvalidApiKey"}}}
    status, _, body = client.get("/seatgeek/2/events?client_id=nope")
    assert status == 403 and json.loads(body)["status"] == 403
    status, _, body = client.get("/eventbrite/v3/users/me/organizations/",
                                 headers={"authorization": "Bearer nope"})
    assert status == 401 and json.loads(body)["error"] == "INVALID_AUTH"
    status, _, body = client.get("/stubhub/catalog/events/v3/1",
                                 headers={"authorization": ""})
    assert status == 401 and json.loads(body)["fault"]["message"] == "Missing Credentials"


def test_unknown_ids_and_bad_parameters() -> None:
    client = _client()
    status, _, body = client.get("/ticketmaster/discovery/v2/events/nope.json?apikey=sandbox")
    assert status == 404 and json.loads(body)["errors"][0]["code"] == "DIS1004"
    status, _, body = client.get("/seatgeek/2/events/1/listings?client_id=sandbox")
    assert status == 404 and json.loads(body)["status"] == 404
    status, _, body = client.get("/eventbrite/v3/events/42/ticket_classes/")
    assert status == 404 and json.loads(body)["error"] == "NOT_FOUND"
    status, _, body = client.get("/stubhub/search/inventory/v2?eventId=1")
    assert status == 404 and "errors" in json.loads(body)
    status, _, body = client.get("/seatgeek/2/events?client_id=sandbox&per_page=lots")
    assert status == 400 and "per_page" in json.loads(body)["message"]
    status, _, body = client.get("/eventbrite/v3/events/1/?expand=venue&page_size=0")
    assert status == 404
    status, _, body = client.get("/_sandbox/truth/events/rc-9999")
    assert status == 404 and "list them at /_sandbox/truth/events" in json.loads(body)["detail"]
    status, _, body = client.request("POST", "/_sandbox/config",
                                     json.dumps({"all": {"rate_limit": 3}}).encode())
    assert status == 400 and "probability" in json.loads(body)["detail"]


def test_stubhub_page_has_no_listings_before_its_script_runs(sandbox) -> None:
    events = sandbox.truth()["events"]
    e = next(x for x in events if x["status"] == "onsale")
    r = httpx.get(f"{sandbox.urls['stubhub_web']}/event/{e['ids']['stubhub']}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<ul id="listings" aria-busy="true"></ul>' in html
    assert 'data-listing-id="' not in html.split("<script>")[0]
    assert '<h1 class="event-name">' in html and "<time datetime=" in html
    assert 'class="venue" data-venue-id=' in html
    data = httpx.get(f"{sandbox.urls['stubhub_web']}/event/{e['ids']['stubhub']}/listings.json")
    assert data.json()["listings"], "the script has listings to insert"


def test_clock_runs_at_a_multiple_of_real_time(make_sandbox) -> None:
    speed = 3600.0
    sb = make_sandbox(clock_speed=speed)
    reads: list[tuple[float, float, float]] = []  # (asked, simulated epoch, answered)

    def read() -> float:
        asked = time.monotonic()
        epoch = sb.clock()["epoch"]
        reads.append((asked, epoch, time.monotonic()))
        return epoch

    first = read()
    wait_until(lambda: read() - first >= 0.3 * speed, 30, 0.02,
               "the simulated clock did not move")
    (asked0, epoch0, answered0), (asked1, epoch1, answered1) = reads[0], reads[-1]
    # the sandbox read its clock within each request: real time between its two reads is
    # at least asked1 - answered0 and at most answered1 - asked0 (epochs are rounded to ms)
    assert speed * (asked1 - answered0) - 0.002 <= epoch1 - epoch0
    assert epoch1 - epoch0 <= speed * (answered1 - asked0) + 0.002
    assert sb.control("clock", {"speed": 0})["speed"] == 0


@pytest.mark.parametrize("args", [["sandbox", "serve", "--help"]])
def test_cli_documents_serve(args: list[str]) -> None:
    from engine.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    for option in ("--port", "--seed", "--events", "--listings-per-event", "--faults",
                   "--clock-speed"):
        assert option in result.output


def test_a_block_answers_403_or_429_to_everything_for_n_simulated_minutes() -> None:
    client = _client()
    url = "/seatgeek/2/events?client_id=sandbox&page=1"
    client.post("/_sandbox/config", {"block": {"seatgeek": {"minutes": 60, "status": 403}}})
    assert {client.get(url)[0] for _ in range(20)} == {403}  # retries do not help
    assert client.get("/ticketmaster/discovery/v2/events.json?apikey=sandbox")[0] == 200
    client.post("/_sandbox/clock", {"seconds": 59 * 60})
    assert client.get(url)[0] == 403
    assert client.json("/_sandbox/stats")["faults"]["seatgeek"]["blocked"] == 21
    client.post("/_sandbox/clock", {"seconds": 2 * 60})  # the hour is over
    assert client.get(url)[0] == 200
    client.post("/_sandbox/config", {"block": {"stubhub": {"minutes": 5, "status": 429}}})
    status, headers, _ = client.get("/stubhub/sellers/search/events/v3?q=x")
    assert status == 429 and headers["retry-after"] == "60"
    client.post("/_sandbox/config", {"block": {"stubhub": {"minutes": 0}}})  # lifted
    assert client.get("/stubhub/sellers/search/events/v3?q=x")[0] != 429
    with pytest.raises(Exception, match="403 or 429"):
        client.post("/_sandbox/config", {"block": {"seatgeek": {"status": 500}}})
