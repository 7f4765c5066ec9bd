"""The events of the world: a Trail Blazers home season plus concerts, comedy, soccer and
theatre in Portland, each with its ids on every marketplace that sells it.

Everything derives from ``(seed, number of events, start)``; the simulated clock starts at
``start`` (``START``, a fixed day, unless given: ``ripcity run`` gives today) so the whole
season lies in the future.
"""

from __future__ import annotations

import dataclasses
import string
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sandbox import identity_cases
from sandbox.hashing import key, unit
from sandbox.venues import SeatMap, Venue, build_venues

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
PACIFIC = ZoneInfo("America/Los_Angeles")
_B62 = string.digits + string.ascii_letters

#: (team, city, star power 0..1): every NBA opponent of the Blazers.
NBA_OPPONENTS: tuple[tuple[str, str, float], ...] = (
    ("Los Angeles Lakers", "LAL", 1.0), ("Golden State Warriors", "GSW", 0.95),
    ("Boston Celtics", "BOS", 0.85), ("Denver Nuggets", "DEN", 0.75),
    ("Milwaukee Bucks", "MIL", 0.7), ("Phoenix Suns", "PHX", 0.65),
    ("Dallas Mavericks", "DAL", 0.7), ("Oklahoma City Thunder", "OKC", 0.7),
    ("New York Knicks", "NYK", 0.65), ("Philadelphia 76ers", "PHI", 0.6),
    ("Minnesota Timberwolves", "MIN", 0.6),
    ("LA Clippers", "LAC", 0.5), ("Sacramento Kings", "SAC", 0.45),
    ("Miami Heat", "MIA", 0.55), ("Cleveland Cavaliers", "CLE", 0.55),
    ("San Antonio Spurs", "SAS", 0.6), ("Memphis Grizzlies", "MEM", 0.45),
    ("New Orleans Pelicans", "NOP", 0.4), ("Houston Rockets", "HOU", 0.45),
    ("Utah Jazz", "UTA", 0.3), ("Atlanta Hawks", "ATL", 0.35), ("Chicago Bulls", "CHI", 0.5),
    ("Indiana Pacers", "IND", 0.4), ("Orlando Magic", "ORL", 0.35),
    ("Toronto Raptors", "TOR", 0.35), ("Brooklyn Nets", "BKN", 0.3),
    ("Charlotte Hornets", "CHA", 0.25), ("Washington Wizards", "WAS", 0.2),
    ("Detroit Pistons", "DET", 0.25),
)

_ARTISTS = (
    "The Willamette Lights", "Aurora Vance", "Cedar & Smoke", "Neon Harbor", "Mira Sol",
    "Static Pines", "Juniper Kings", "Lola Ferro", "The Burnside Collective", "Kasimir Lane",
    "Glass Orchard", "Violet Thunder", "DJ Rosebud", "Hollow Coast", "Sunny Alvarez",
)
_COMICS = ("Dana Pruitt", "Marcus Bell", "Priya Rao", "Tom Whitlock", "Gina Ortega")
_SHOWS = ("Hamilton", "Wicked", "The Lion King", "Les Misérables", "Portland Opera: Carmen",
          "Oregon Symphony: Mahler 5", "Moulin Rouge! The Musical")
_SOCCER = (("Portland Timbers", "Seattle Sounders FC"), ("Portland Timbers", "LAFC"),
           ("Portland Thorns FC", "OL Reign"), ("Portland Timbers", "Vancouver Whitecaps FC"))

#: category -> which marketplaces sell it
_MARKETS = {
    "basketball": ("ticketmaster", "seatgeek", "stubhub"),
    "soccer": ("ticketmaster", "seatgeek", "stubhub"),
    "concert": ("ticketmaster", "seatgeek", "stubhub"),
    "theatre": ("ticketmaster", "seatgeek", "stubhub"),
    "club": ("eventbrite", "seatgeek", "stubhub"),
    "comedy": ("eventbrite", "seatgeek", "stubhub"),
}
_BASE_CENTS = {"basketball": (2500, 6000), "soccer": (2800, 3000), "concert": (4000, 9000),
               "theatre": (4000, 6000), "club": (1500, 3500), "comedy": (2000, 2500)}
#: (kind, venue, seat map, weight) for the non-Blazers events
_OTHER_KINDS = (("concert", "moda", "concert", 0.18), ("concert", "vmc", "concert", 0.08),
                ("club", "crystal", "ga", 0.10), ("club", "roseland", "ga", 0.08),
                ("club", "dougfir", "ga", 0.06), ("comedy", "helium", "ga", 0.12),
                ("theatre", "keller", "theatre", 0.14), ("theatre", "schnitzer", "theatre", 0.10),
                ("soccer", "providence", "soccer", 0.14))


@dataclasses.dataclass(frozen=True, slots=True)
class WorldEvent:
    index: int
    world_id: str  # "rc-0001"
    name: str
    category: str  # basketball | soccer | concert | theatre | club | comedy
    performers: tuple[str, ...]
    venue: Venue
    seat_map: SeatMap
    start: int  # UTC epoch seconds
    status: str  # onsale | soldout | postponed | cancelled
    popularity: float  # 0..1
    base_cents: int  # fair all-in price of the venue's cheapest seat, far from the date
    demand: float  # how prices drift as the date nears (+ rises, - falls)
    marketplaces: tuple[str, ...]
    ids: dict[str, str]  # marketplace -> that marketplace's event id (as a string)
    uid: int  # 64-bit hash key of this event
    #: identity hard cases (``sandbox.identity_cases``): marketplace -> its own title;
    #: quirks such as "seatgeek:local-as-utc", "seatgeek:tba", "stubhub:stale-date",
    #: "stubhub:wrong-ref=<ticketmaster id>"; the date before a rescheduling; case labels
    titles: dict[str, str] = dataclasses.field(default_factory=dict)
    quirks: frozenset[str] = frozenset()
    previous_start: int | None = None
    cases: tuple[str, ...] = ()

    @property
    def start_dt(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def start_local(self) -> datetime:
        return self.start_dt.astimezone(PACIFIC)

    @property
    def genre(self) -> str:
        return {"basketball": "Basketball", "soccer": "Soccer", "concert": "Rock",
                "theatre": "Theatre", "club": "Indie", "comedy": "Comedy"}[self.category]

    @property
    def segment(self) -> str:
        return {"basketball": "Sports", "soccer": "Sports", "theatre": "Arts & Theatre",
                "comedy": "Arts & Theatre"}.get(self.category, "Music")


def b62(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, r = divmod(value, 62)
        out.append(_B62[r])
    return "".join(out)


def _local(day: datetime, hour: int, minute: int) -> int:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=PACIFIC)
    return int(local.timestamp())


class World:
    """All events and venues for one seed; lookups by any marketplace's event id."""

    def __init__(self, seed: int, n_events: int, start: datetime = START) -> None:
        self.seed = seed
        self.venues = build_venues()
        self.start = int(start.timestamp())
        self.events: list[WorldEvent] = self._build(n_events)
        self.by_world_id = {e.world_id: e for e in self.events}
        self.by_market: dict[str, dict[str, WorldEvent]] = {}
        for e in self.events:
            for m, mid in e.ids.items():
                self.by_market.setdefault(m, {})[mid] = e

    # -- construction ------------------------------------------------------------------
    def _build(self, n: int) -> list[WorldEvent]:
        n_blazers = min(41, max(1, round(n * 0.4))) if n > 1 else 1
        drafts: list[identity_cases.Draft] = []
        begin = datetime.fromtimestamp(self.start, UTC)
        day0 = (begin + timedelta(days=21)).astimezone(PACIFIC)
        for g in range(n_blazers):
            team, _code, star = NBA_OPPONENTS[g % len(NBA_OPPONENTS)]
            day = day0 + timedelta(days=round(g * 170 / max(n_blazers, 1)))
            weekend = day.weekday() >= 4
            hour, minute = ((18, 0) if day.weekday() == 6 else (19, 0))
            pop = min(1.0, 0.55 * star + (0.2 if weekend else 0.0)
                      + 0.25 * unit(self.seed, "pop", g))
            drafts.append((f"Portland Trail Blazers vs. {team}", "basketball", "moda:basketball",
                           ("Portland Trail Blazers", team), _local(day, hour, minute), pop))
        weights = [k[3] for k in _OTHER_KINDS]
        cum = [sum(weights[: i + 1]) / sum(weights) for i in range(len(weights))]
        for j in range(n - n_blazers):
            u = unit(self.seed, "kind", j)
            kind, venue, smap, _w = _OTHER_KINDS[next(i for i, c in enumerate(cum) if u <= c)]
            pick = unit(self.seed, "who", j)
            if kind in ("concert", "club"):
                who = _ARTISTS[int(pick * len(_ARTISTS))]
                name, perf = who, (who,)
            elif kind == "comedy":
                who = _COMICS[int(pick * len(_COMICS))]
                name, perf = f"{who} Live", (who,)
            elif kind == "theatre":
                who = _SHOWS[int(pick * len(_SHOWS))]
                name, perf = who, (who,)
            else:
                home, away = _SOCCER[int(pick * len(_SOCCER))]
                name, perf = f"{home} vs. {away}", (home, away)
            offset = 3 + int(unit(self.seed, "day", j) * 200)
            if kind == "soccer" and 30 < offset < 160:
                offset = 160 + offset % 40  # no soccer in the off-season
            day = (begin + timedelta(days=offset)).astimezone(PACIFIC)
            hour = 20 if kind in ("club", "comedy") else 19
            minute = 30 if unit(self.seed, "min", j) < 0.5 else 0
            pop = unit(self.seed, "pop-o", j) ** 0.8
            drafts.append((name, kind, f"{venue}:{smap}", perf, _local(day, hour, minute), pop))
        drafts, labels = identity_cases.schedule(self.seed, drafts)
        drafts.sort(key=lambda d: (d[4], d[0]))
        events = [self._event(i, *d) for i, d in enumerate(drafts)]
        return identity_cases.present(self.seed, events, labels, self.start)

    def _event(self, i: int, name: str, category: str, where: str,
               performers: tuple[str, ...], start: int, pop: float) -> WorldEvent:
        venue_key, map_name = where.split(":")
        venue = self.venues[venue_key]
        uid = key(self.seed, "event", i, name, start)
        u = unit(uid, "status")
        status = ("cancelled" if u < 0.03 else "postponed" if u < 0.06
                  else "soldout" if u < 0.11 else "onsale")
        lo, span = _BASE_CENTS[category]
        base = int(lo + span * pop * (0.8 + 0.4 * unit(uid, "base")))
        demand = -0.3 + 0.9 * pop + 0.2 * (unit(uid, "demand") - 0.5)
        markets = _MARKETS[category]
        ids: dict[str, str] = {}
        h = key(uid, "ids")
        if "ticketmaster" in markets:
            ids["ticketmaster"] = "vvG1" + b62(h, 10)
        if "eventbrite" in markets:
            ids["eventbrite"] = str(810_000_000_000 + i * 1013 + h % 1013)
        ids["seatgeek"] = str(6_200_000 + i * 7 + h % 7)
        ids["stubhub"] = str(104_500_000 + i * 11 + h % 11)
        return WorldEvent(i, f"rc-{i + 1:04d}", name, category, performers, venue,
                          venue.maps[map_name], start, status, pop, base, demand, markets, ids,
                          uid)

    # -- lookups -----------------------------------------------------------------------
    def event_for(self, marketplace: str, source_id: str) -> WorldEvent | None:
        return self.by_market.get(marketplace, {}).get(source_id)

    def events_on(self, marketplace: str) -> list[WorldEvent]:
        return [e for e in self.events if marketplace in e.ids]


def title_on(e: WorldEvent, marketplace: str) -> str:
    """The event's title as ``marketplace`` shows it."""
    return e.titles.get(marketplace, e.name)


def start_on(e: WorldEvent, marketplace: str) -> int:
    """The start ``marketplace`` shows (a stale one keeps the date before a rescheduling)."""
    if f"{marketplace}:stale-date" in e.quirks and e.previous_start is not None:
        return e.previous_start
    return e.start


def tm_venue_id(venue: Venue) -> str:
    return "KovZpZA" + b62(key("tm-venue", venue.number), 5)


def tm_attraction_id(name: str) -> str:
    return "K8vZ91" + b62(key("tm-attr", name), 5)


def sg_venue_id(venue: Venue) -> int:
    return 2_000 + venue.number * 17


def sg_performer_id(name: str) -> int:
    return 10_000 + key("sg-perf", name) % 90_000


def sh_venue_id(venue: Venue) -> int:
    return 4_000 + venue.number * 13


def eb_venue_id(venue: Venue) -> str:
    return str(60_600_000 + venue.number * 101)


def eb_org_id(venue: Venue) -> str:
    return str(4_310_000_000 + venue.number * 7)


def slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(p for p in keep.split("-") if p)
