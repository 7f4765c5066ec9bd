"""Saved-search matching: what alerting saved searches add to the alert matcher's cost per
committed batch, measured against the same matcher with none, in one run.

``python -m bench.saved_searches [--events 5000] [--users 10000] [--searches 20000]``
builds a scratch database: ``--events`` upcoming events (40 cities, 10 venues each, 8
categories, 600 performers) with ``--per-event`` listings each (ingested and matched
first, so the matcher's event state exists), ``--users`` verified users and no alert rules.
Then two phases of ``--batches`` committed batches each, written by the real ingest path
(``storage.ingest.write_snapshots``) and matched as the engine's change relay does
(``engine.alerts.matcher.match``), timed around the match:

1. **none**: no saved search exists;
2. **searches**: ``--searches`` alerting saved searches of the users (2 each at the
   defaults) are stored first: 30 % narrowed to a venue, 25 % to a city, 15 % to a
   category, 29 % to a performer's name (text), and 1 % broad (no text, venue, city or
   category: only a price ceiling and/or a minimum deal score, so every touched event is
   their candidate). Half alert on new events, 70 % on listings (each at least one); price
   ceilings are 20-80 % of the median event's get-in price, a tenth also want a deal score >= 70.

A batch is a crawl of ``--batch-events`` events' pages (``--per-event`` listings each: 500
at the defaults): 5 % of the listings change price (+-7 %; a share ``--deep`` drop to
40-90 % of the event's get-in price), 1 % are new listings, and one batch in ten brings a
new event (created before its first crawl, so the searches saved before it may alert on it).
Both phases draw the same kinds of batches from the same generator.

Afterwards the changes of the last ``--replay`` batches of the second phase are matched
again (as the post-commit reaper redoes matching left unconfirmed): they must add no match.
``duplicates`` counts alert items beyond one per match (0 expected), ``replay_new_matches``
what the replay added (0).

Prints one JSON object: per-batch matching time (p50 / p90 ms) with none and with the
searches, their ratio (p50), the matches and outbox rows (alerts) the searches produced,
per kind (new event / listing).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from bench.harness import arguments, emit, percentile_ms, scratch_database
from storage.records import LISTING_SCHEMA

CITIES = 40
VENUES_PER_CITY = 10
CATEGORIES = ("nba", "nhl", "mls", "nfl", "concert", "theater", "comedy", "festival")
PERFORMERS = 600


@dataclass
class World:
    """The market the batches move: per event, its level and its listings' prices."""

    per_event: int
    level: np.ndarray  # an event's typical get-in price, cents
    prices: list[np.ndarray]  # per event (index = event id - 1): each listing's price
    venue_of: np.ndarray
    category_of: np.ndarray
    performer_of: np.ndarray
    rng: np.random.Generator
    new_events: list[int] = field(default_factory=list)


def _setup(conn: psycopg.Connection[Any], events: int, per_event: int, users: int,
           seed: int) -> World:
    rng = np.random.default_rng(seed)
    with conn.cursor() as cur:
        with cur.copy("COPY venues (name, city) FROM STDIN") as cp:
            for c in range(CITIES):
                for v in range(VENUES_PER_CITY):
                    cp.write_row((f"Arena {c}-{v}", f"City{c}"))
        venue_of = rng.integers(1, CITIES * VENUES_PER_CITY + 1, events)
        category_of = rng.integers(0, len(CATEGORIES), events)
        performer_of = rng.integers(0, PERFORMERS, events)
        now = datetime.now(UTC)
        with cur.copy("COPY events (name, performers, venue_id, category, starts_at) "
                      "FROM STDIN") as cp:
            for e in range(events):
                cp.write_row(_event_row(e, venue_of, category_of, performer_of, now, rng))
        cur.execute("""INSERT INTO event_sources (marketplace, source_event_id, event_id)
                       SELECT 'seatgeek', 'E' || id, id FROM events""")
        with cur.copy("COPY users (email, plan, email_verified_at) FROM STDIN") as cp:
            for u in range(users):
                cp.write_row((f"u{u}@bench.test", "free", now))
    conn.commit()
    level = rng.integers(3_000, 30_000, events)
    prices = [(level[e] * rng.uniform(1.0, 3.0, per_event)).astype(np.int64)
              for e in range(events)]
    return World(per_event, level, prices, venue_of, category_of, performer_of, rng)


def _event_row(e: int, venue_of: np.ndarray, category_of: np.ndarray,
               performer_of: np.ndarray, now: datetime, rng: np.random.Generator
               ) -> tuple[Any, ...]:
    p = int(performer_of[e])
    return (f"Performer{p} live", [f"Performer{p}"], int(venue_of[e]),
            CATEGORIES[category_of[e]], now + timedelta(days=float(rng.uniform(2, 200))))


def _add_event(conn: psycopg.Connection[Any], w: World) -> int:
    """A new event (as identity would create it on first sight), with its listings."""
    e = len(w.prices)
    w.venue_of = np.append(w.venue_of, w.rng.integers(1, CITIES * VENUES_PER_CITY + 1))
    w.category_of = np.append(w.category_of, w.rng.integers(0, len(CATEGORIES)))
    w.performer_of = np.append(w.performer_of, w.rng.integers(0, PERFORMERS))
    w.level = np.append(w.level, w.rng.integers(3_000, 30_000))
    w.prices.append((w.level[e] * w.rng.uniform(1.0, 3.0, w.per_event)).astype(np.int64))
    row = _event_row(e, w.venue_of, w.category_of, w.performer_of, datetime.now(UTC), w.rng)
    (eid,) = conn.execute("INSERT INTO events (name, performers, venue_id, category, "
                          "starts_at) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                          row).fetchone()
    conn.execute("INSERT INTO event_sources (marketplace, source_event_id, event_id) "
                 "VALUES ('seatgeek', %s, %s)", (f"E{eid}", eid))
    conn.commit()
    assert eid == e + 1, (eid, e)
    w.new_events.append(eid)
    return e


def _searches(conn: psycopg.Connection[Any], n: int, users: int, w: World, seed: int) -> None:
    rng = random.Random(seed)
    typical = int(np.median(w.level))
    with conn.cursor() as cur, cur.copy(
            "COPY saved_searches (user_id, name, q, category, city, venue_id, "
            "max_price_cents, min_deal_score, alert_new_events, alert_listings) "
            "FROM STDIN") as cp:
        for i in range(n):
            r = rng.random()
            q = category = city = venue = None
            if r < 0.30:
                venue = rng.randint(1, CITIES * VENUES_PER_CITY)
            elif r < 0.55:
                city = f"City{rng.randrange(CITIES)}"
            elif r < 0.70:
                category = rng.choice(CATEGORIES)
            elif r < 0.99:
                q = f"Performer{rng.randrange(PERFORMERS)}"
            events = rng.random() < 0.5
            listings = rng.random() < 0.7 or not events
            score = 70.0 if rng.random() < 0.1 else None
            cp.write_row((i % users + 1, f"search {i}", q, category, city, venue,
                          int(typical * rng.uniform(0.2, 0.8)), score, events, listings))
    conn.commit()
    conn.execute("ANALYZE saved_searches")
    conn.commit()


def _batch(at: datetime, event_idx: list[int], w: World, ids: list[np.ndarray]
           ) -> pa.RecordBatch:
    rows_e = np.concatenate([np.full(len(i), e + 1) for e, i in zip(event_idx, ids,
                                                                      strict=True)])
    rows_i = np.concatenate(ids)
    prices = np.concatenate([w.prices[e][i] for e, i in zip(event_idx, ids, strict=True)])
    n = len(rows_i)
    return pa.RecordBatch.from_pydict({
        "observed_at": pa.array([at] * n, LISTING_SCHEMA.field("observed_at").type),
        "marketplace": ["seatgeek"] * n,
        "listing_id": [f"L{e}-{i}" for e, i in zip(rows_e, rows_i, strict=True)],
        "source_event_id": [f"E{e}" for e in rows_e], "section": ["112"] * n,
        "row": ["5"] * n, "seats": [None] * n, "quantity": pa.array([2] * n, pa.int32()),
        "splits": [None] * n, "price_cents": prices, "fees_cents": [0] * n,
        "total_cents": prices, "currency": ["USD"] * n, "delivery": [None] * n,
        "kind": [None] * n, "zone": [None] * n}, schema=LISTING_SCHEMA)


def _move(w: World, event_idx: list[int], deep: float) -> list[np.ndarray]:
    """Change the crawled events' prices in place (5 % move, 1 % new); their listings."""
    ids = []
    for e in event_idx:
        p = w.prices[e]
        moved = w.rng.random(len(p)) < 0.05
        p[moved] = (p[moved] * w.rng.uniform(0.93, 1.07, int(moved.sum()))).astype(np.int64)
        dropped = moved & (w.rng.random(len(p)) < deep)
        p[dropped] = (p.min() * w.rng.uniform(0.4, 0.9, int(dropped.sum()))).astype(np.int64)
        fresh = int((w.rng.random(len(p)) < 0.01).sum())
        if fresh:
            w.prices[e] = p = np.append(
                p, (w.level[e] * w.rng.uniform(0.6, 3.0, fresh)).astype(np.int64))
        p[:] = np.maximum(p, 100)
        ids.append(np.arange(len(p)))
    return ids


def _phase(url: str, w: World, batches: int, batch_events: int, deep: float, t0: datetime,
           stamp0: int) -> tuple[list[float], list[dict[str, int]], list[Any]]:
    """``batches`` committed and matched batches: (match seconds, counts, their changes)."""
    from engine.alerts.matcher import match
    from storage.ingest import write_snapshots

    seconds: list[float] = []
    counts: list[dict[str, int]] = []
    written: list[Any] = []
    with psycopg.connect(url) as conn:
        for k in range(batches):
            pick = [int(e) for e in w.rng.choice(len(w.prices), batch_events, replace=False)]
            if k % 10 == 9:
                pick[0] = _add_event(conn, w)
            ids = _move(w, pick, deep)
            batch = _batch(t0 + timedelta(seconds=stamp0 + k), pick, w, ids)
            result = write_snapshots(conn, batch, touch_interval_s=0)
            conn.commit()
            start = time.perf_counter()
            counts.append(match(conn, result))
            seconds.append(time.perf_counter() - start)
            written.append((batch, result))
    return seconds, counts, written


def _load(url: str, w: World, t0: datetime, chunk_events: int = 100) -> None:
    """Every listing ingested and matched once (the matcher's event state), then scored."""
    from engine.alerts.matcher import match
    from storage.ingest import write_snapshots

    with psycopg.connect(url) as conn:
        n = len(w.prices)
        for start in range(0, n, chunk_events):
            pick = list(range(start, min(n, start + chunk_events)))
            ids = [np.arange(len(w.prices[e])) for e in pick]
            result = write_snapshots(conn, _batch(t0, pick, w, ids), touch_interval_s=0)
            conn.commit()
            match(conn, result)
        # deal scores as the scorer would have left them (what min_deal_score reads)
        conn.execute("UPDATE listings_current SET deal_score = (abs(hashtext(listing_id)) "
                     "% 1000) / 10.0")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _outcome(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    matches = dict(conn.execute(
        """SELECT CASE WHEN dedupe_key LIKE '%%:event:%%' THEN 'event' ELSE 'listing' END,
                  count(*) FROM alert_matches WHERE saved_search_id IS NOT NULL
           GROUP BY 1""").fetchall())
    (outbox,) = conn.execute("SELECT count(*) FROM alert_outbox "
                             "WHERE saved_search_id IS NOT NULL").fetchone()
    (items, distinct) = conn.execute(
        """SELECT count(*), count(DISTINCT (m->>'match_id'))
           FROM alert_outbox o CROSS JOIN LATERAL jsonb_array_elements(o.payload->'matches') m
           WHERE o.saved_search_id IS NOT NULL""").fetchone()
    (keys,) = conn.execute("SELECT count(*) FROM alert_matches "
                           "WHERE saved_search_id IS NOT NULL").fetchone()
    return {"matches_new_event": int(matches.get("event", 0)),
            "matches_listing": int(matches.get("listing", 0)), "outbox_rows": int(outbox),
            "alert_items": int(items), "duplicates": int(items - distinct),
            "matches_total": int(keys)}


def run(events: int, per_event: int, users: int, searches: int, batches: int,
        batch_events: int, deep: float, replay: int, seed: int) -> dict[str, Any]:
    from engine.alerts.matcher import match

    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with scratch_database("ripcity_bench_saved") as url:
        with psycopg.connect(url) as conn:
            w = _setup(conn, events, per_event, users, seed)
        load_start = time.perf_counter()
        _load(url, w, t0)
        load_s = time.perf_counter() - load_start
        none_s, none_counts, _ = _phase(url, w, batches, batch_events, deep, t0, 1)
        with psycopg.connect(url) as conn:
            _searches(conn, searches, users, w, seed)
        with_s, with_counts, written = _phase(url, w, batches, batch_events, deep, t0,
                                              1 + batches)
        with psycopg.connect(url) as conn:
            before = _outcome(conn)
            for _, result in written[-replay:] if replay else []:
                match(conn, result)
            after = _outcome(conn)
            (broad,) = conn.execute(
                "SELECT count(*) FROM saved_searches WHERE q IS NULL AND category IS NULL "
                "AND city IS NULL AND venue_id IS NULL").fetchone()
    p50_none, p50_with = percentile_ms(none_s, 50), percentile_ms(with_s, 50)
    rows = [int(np.mean([len(b) for b, _ in written]))] if written else [0]
    return {
        "bench": "saved_searches", "events": events, "listings_per_event": per_event,
        "users": users, "saved_searches": searches, "broad_searches": int(broad),
        "batches_per_phase": batches, "events_per_batch": batch_events,
        "listings_per_batch": rows[0], "deep_share": deep, "seed": seed,
        "new_events": len(w.new_events), "load_seconds": round(load_s, 1),
        "match_none_p50_ms": p50_none, "match_none_p90_ms": percentile_ms(none_s, 90),
        "match_searches_p50_ms": p50_with, "match_searches_p90_ms": percentile_ms(with_s, 90),
        "ratio_p50": round(p50_with / p50_none, 2) if p50_none else None,
        "added_p50_ms": round(p50_with - p50_none, 1),
        "hits_per_batch_p50": float(np.median([c["hits"] for c in with_counts])),
        "none_hits": sum(c["hits"] for c in none_counts),
        **before,
        "replayed_batches": replay,
        "replay_new_matches": after["matches_total"] - before["matches_total"],
        "replay_duplicates": after["duplicates"],
    }


def main(argv: list[str] | None = None) -> None:
    p = arguments("bench.saved_searches", __doc__)
    p.add_argument("--events", type=int, default=5_000)
    p.add_argument("--per-event", type=int, default=20)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--searches", type=int, default=20_000)
    p.add_argument("--batches", type=int, default=40, help="committed batches per phase")
    p.add_argument("--batch-events", type=int, default=25, help="events crawled per batch")
    p.add_argument("--deep", type=float, default=0.05,
                   help="share of price moves that drop under the event's get-in price")
    p.add_argument("--replay", type=int, default=5, help="batches written and matched again")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    emit(run(a.events, a.per_event, a.users, a.searches, a.batches, a.batch_events, a.deep,
             a.replay, a.seed))


if __name__ == "__main__":
    main()
