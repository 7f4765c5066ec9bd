"""The sandbox's ASGI application: a raw ASGI callable (no framework routing overhead) that
mounts the four marketplaces under their prefixes and the control API under ``/_sandbox``.

Marketplace responses are cached per (URL, clock second, fault config version): the same
seed and clock give byte-identical bodies, and repeated pages cost one dict lookup.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from sandbox.clock import SimClock
from sandbox.common import Request, Response, parse_when
from sandbox.eventbrite import routes as eventbrite
from sandbox.faults import FaultInjector
from sandbox.market import ListingModel
from sandbox.seatgeek import routes as seatgeek
from sandbox.stubhub import routes as stubhub
from sandbox.stubhub import web as stubhub_web
from sandbox.ticketmaster import routes as ticketmaster
from sandbox.truth import event_summary, event_truth
from sandbox.world import World

if TYPE_CHECKING:
    from sandbox.vendors.smtp_inbox import SmtpBox

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Reply = tuple[Response, tuple[tuple[bytes, bytes], ...], float]

MARKETPLACES = ("ticketmaster", "seatgeek", "eventbrite", "stubhub")
#: each marketplace's routes: ``handle(request)``, ``rate_limited()``, and (all but the
#: StubHub website, which needs no credential) ``credential(query, headers)`` and
#: ``unauthorized(missing)``
_ROUTES: dict[str, ModuleType] = {
    "ticketmaster": ticketmaster, "seatgeek": seatgeek, "eventbrite": eventbrite,
    "stubhub": stubhub, "stubhub_web": stubhub_web,
}
_PREFIX = {"ticketmaster": "/ticketmaster", "seatgeek": "/seatgeek",
           "eventbrite": "/eventbrite", "stubhub": "/stubhub", "stubhub_web": "/stubhub/web"}


@dataclasses.dataclass(slots=True)
class SandboxConfig:
    """How big the world is, how it misbehaves, and which credentials it accepts."""

    seed: int = 7
    events: int = 120
    listings_per_event: int = 400
    faults: str = "light"
    clock_speed: float = 0.0
    start: str | None = None  # the season's first day, YYYY-MM-DD (None: world.START)
    credentials: dict[str, str] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(MARKETPLACES, "sandbox"))
    cache_bytes: int = 96 * 1024 * 1024  # page cache budget


#: the benchmark's baseline: the cheapest JSON response this server can give
_PING = Response(200, b'{"ok":true}', cacheable=False)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(obj, option=orjson.OPT_INDENT_2), cacheable=False)


class SandboxApp:
    """The ASGI callable; ``create_app`` builds one."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.world = World(config.seed, config.events, *(
            [datetime.combine(date.fromisoformat(config.start), time(12), UTC)]
            if config.start else []))
        self.faults = FaultInjector(config.seed, config.faults)
        self.model = ListingModel(self.world, config.listings_per_event,
                                  self.faults.malformed_rates())
        self.clock = SimClock(self.world.start, config.clock_speed)
        self._cache: OrderedDict[tuple, Response] = OrderedDict()
        self._cache_bytes = 0
        self._version = 0
        self.inbox: SmtpBox | None = None  # serve(smtp_port=...): what /_sandbox/mail shows

    # -- ASGI --------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        body = await _read_body(receive) if scope["method"] == "POST" else b""
        response, extra, delay = self.respond(scope["method"], scope["path"],
                                              scope["query_string"], _headers(scope), body,
                                              _base_url(scope))
        if delay:
            await asyncio.sleep(delay)
        await _send(send, response, extra)

    # -- one request -------------------------------------------------------------------
    def respond(self, method: str, path: str, qs: bytes, headers: dict[str, str],
                body: bytes = b"", base_url: str = "") -> Reply:
        """Answer one request: (response, extra headers, seconds to wait before sending).

        Both servers (the ASGI app above and ``sandbox.http``) call this, so the
        sandbox behaves the same whichever one runs it. ``headers`` has lower-case names.
        """
        if path == "/_sandbox/ping":
            return _PING, (), 0.0
        market = self._market_of(path)
        try:
            if market is None:
                if path.startswith("/_sandbox/mail"):
                    return self._mail(path, qs), (), 0.0
                return self._control(method, path, body, base_url), (), 0.0
            return self._marketplace(method, market, path, qs, headers)
        except Exception as err:  # the sandbox must answer, and say what broke
            logger.exception("sandbox handler failed for %s?%s", path, qs.decode("latin-1"))
            return _json({"error": "sandbox internal error", "detail": repr(err),
                          "path": path}, 500), (), 0.0

    @staticmethod
    def _market_of(path: str) -> str | None:
        if path.startswith("/stubhub/web/"):
            return "stubhub_web"
        head = path[1:].split("/", 1)[0]
        return head if head in _ROUTES else None

    def _marketplace(self, method: str, market: str, path: str, qs: bytes,
                     headers: dict[str, str]) -> Reply:
        faults = self.faults
        url = path + "?" + qs.decode("latin-1") if qs else path
        routes = _ROUTES[market]
        extra: tuple[tuple[bytes, bytes], ...] = ()
        blocked = faults.blocked("stubhub" if market == "stubhub_web" else market,
                                 self.clock.now())
        if blocked is not None:  # banned for a while: every request, retries included
            if blocked == 429:
                return self._count(market, routes.rate_limited()), ((b"retry-after", b"60"),), 0.0
            return self._count(market, _json({"error": "Forbidden", "status": 403,
                                              "detail": "access denied"}, 403)), (), 0.0
        fault = faults.decide(market, url)
        if market == "ticketmaster":
            extra = self._tm_headers()
        if fault == "rate_limit":
            retry = str(faults.mixes[market].retry_after).encode()
            return (self._count(market, routes.rate_limited()),
                    (*extra, (b"retry-after", retry)), 0.0)
        if fault == "server_error":
            status = faults.server_error_status(url)
            error = {"error": "Service Unavailable" if status == 503
                     else "Internal Server Error", "status": status}
            r = Response(status, orjson.dumps(error), cacheable=False)
            if status == 503:
                extra = (*extra, (b"retry-after", b"1"))
            return self._count(market, r), extra, 0.0
        query = dict(parse_qsl(qs.decode("latin-1"), keep_blank_values=True)) if qs else {}
        denied = self._auth(market, query, headers)
        if denied is not None:
            return self._count(market, denied), extra, 0.0
        tick = self.clock.tick()
        ckey = (url, tick, self._version)
        response = self._cache.get(ckey)
        if response is None:
            parts = path[len(_PREFIX[market]) + 1:].split("/")
            req = Request(method, parts, query, qs.decode("latin-1"), headers, b"", tick,
                          self.world, self.model, _PREFIX[market])
            response = routes.handle(req)
            if response.cacheable and response.status == 200:
                self._remember(ckey, response)
        delay = faults.mixes[market].slow_seconds if fault == "slow" else 0.0
        if fault == "truncated":
            response = dataclasses.replace(response, body=response.body[: len(response.body) // 2])
        return self._count(market, response), extra, delay

    def _count(self, market: str, r: Response) -> Response:
        self.faults.statuses[market][r.status] += 1
        return r

    def _remember(self, ckey: tuple, response: Response) -> None:
        self._cache[ckey] = response
        self._cache_bytes += len(response.body)
        while self._cache_bytes > self.config.cache_bytes and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old.body)

    def _tm_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        used = self.faults.requests["ticketmaster"] % 5000
        reset = (self.clock.tick() // 86_400 + 1) * 86_400_000
        return ((b"rate-limit", b"5000"), (b"rate-limit-available", str(5000 - used).encode()),
                (b"rate-limit-over", b"0"), (b"rate-limit-reset", str(reset).encode()))

    def _auth(self, market: str, query: dict[str, str], headers: dict[str, str]) -> \
            Response | None:
        if market == "stubhub_web":
            return None
        routes = _ROUTES[market]
        given = routes.credential(query, headers)
        if given == self.config.credentials.get(market):
            return None
        return routes.unauthorized(not given)

    # -- control -----------------------------------------------------------------------
    def _mail(self, path: str, qs: bytes) -> Response:
        from sandbox.vendors import mail_page

        if self.inbox is None:
            return _json({"error": "no inbox", "detail": "this sandbox runs no SMTP inbox "
                          "(python -m sandbox.server --smtp-port N starts one)"}, 404)
        to = dict(parse_qsl(qs.decode("latin-1"))).get("to")
        if path == "/_sandbox/mail.json":
            return _json({"messages": mail_page.messages(self.inbox.received, to)})
        if path == "/_sandbox/mail":
            return Response(200, mail_page.page(self.inbox.received, to),
                            b"text/html;charset=utf-8", cacheable=False)
        return _json({"error": "not found", "detail": f"no control endpoint {path}"}, 404)

    def _control(self, method: str, path: str, body: bytes, base_url: str) -> Response:
        parts = [p for p in path.split("/") if p]
        if not parts or parts == ["_sandbox"]:
            return _json(self.describe(base_url))
        if parts[0] != "_sandbox":
            return _json({"error": "not found", "detail": f"{path} is not a sandbox path; "
                          "marketplaces live under /ticketmaster, /seatgeek, /eventbrite, "
                          "/stubhub and /stubhub/web"}, 404)
        what = parts[1:]
        try:
            payload = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as err:
            return _json({"error": "bad JSON body", "detail": str(err)}, 400)
        try:
            if what == ["clock"]:
                if method == "POST":
                    self._move_clock(payload)
                return _json(self.clock.as_dict())
            if what == ["stats"]:
                return _json(self.faults.snapshot())
            if what == ["stats", "reset"] and method == "POST":
                self.faults.requests.clear()
                self.faults.injected.clear()
                self.faults.statuses.clear()
                return _json(self.faults.snapshot())
            if what == ["config"]:
                if method == "POST":
                    self.faults.configure(payload, self.clock.now())
                    self.model.set_malformed(self.faults.malformed_rates())
                    self._version += 1
                    self._cache.clear()
                    self._cache_bytes = 0
                return _json({m: mix.as_dict() for m, mix in self.faults.mixes.items()})
            if what == ["truth", "summary"]:
                return _json(self.summary())
            if what == ["truth", "events"]:
                return _json({"clock": self.clock.as_dict()["now"],
                              "events": [event_summary(e) for e in self.world.events]})
            if len(what) == 3 and what[:2] == ["truth", "events"]:
                e = self.world.by_world_id.get(what[2])
                if e is None:
                    return _json({"error": "unknown world event", "detail":
                                  f"{what[2]!r} is not a world event id; list them at "
                                  "/_sandbox/truth/events"}, 404)
                return _json(event_truth(self.world, self.model, e, self.clock.tick()))
        except ValueError as err:
            return _json({"error": "bad request", "detail": str(err)}, 400)
        return _json({"error": "not found", "detail": f"no control endpoint {path}"}, 404)

    def _move_clock(self, payload: dict[str, Any]) -> None:
        if "speed" in payload:
            self.clock.set_speed(float(payload["speed"]))
        if "set" in payload:
            self.clock.set(parse_when(str(payload["set"])))
        if "seconds" in payload:
            self.clock.advance(float(payload["seconds"]))
        if not {"speed", "set", "seconds"} & payload.keys():
            raise ValueError('POST /_sandbox/clock takes {"seconds": N}, {"set": ISO-8601 or '
                             'epoch} and/or {"speed": X}')

    def summary(self) -> dict[str, Any]:
        """Live listings per marketplace right now (seat-level; Eventbrite tiers apart)."""
        tick = self.clock.tick()
        counts = dict.fromkeys(("ticketmaster", "seatgeek", "stubhub"), 0)
        for e in self.world.events:
            for m in counts:
                if m in e.ids:
                    counts[m] += int(self.model.live_slots(e, m, tick).size)
        return {"clock": self.clock.as_dict()["now"], "events": len(self.world.events),
                "live_listings": counts, "live_listings_total": sum(counts.values())}

    def describe(self, base: str) -> dict[str, Any]:
        return {"service": "Rip City sandbox marketplaces", "seed": self.config.seed,
                "events": len(self.world.events),
                "listings_per_event": self.config.listings_per_event,
                "urls": urls_for(base), "credentials": dict(self.config.credentials),
                "clock": self.clock.as_dict()}


def urls_for(base: str) -> dict[str, str]:
    """Base URLs as the spiders are configured with them."""
    return {m: base + p for m, p in _PREFIX.items()} | {"control": base + "/_sandbox"}


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """The ASGI app for ``config`` (serve it with uvicorn, or use ``start_sandbox``)."""
    return SandboxApp(config or SandboxConfig())


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
            if k in (b"authorization", b"host", b"accept")}


def _base_url(scope: Scope) -> str:
    host = dict(scope["headers"]).get(b"host")
    if host:
        return "http://" + host.decode("latin-1")
    server = scope.get("server") or ("127.0.0.1", 80)
    return f"http://{server[0]}:{server[1]}"


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, r: Response, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    headers = [(b"content-type", r.content_type),
               (b"content-length", str(len(r.body)).encode()), *r.headers, *extra]
    await send({"type": "http.response.start", "status": r.status, "headers": headers})
    await send({"type": "http.response.body", "body": r.body})


__all__ = ["SandboxApp", "SandboxConfig", "create_app", "urls_for"]
