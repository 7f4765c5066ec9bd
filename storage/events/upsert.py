"""Canonical events: turn marketplace ``EventRecord`` s into our events + ``event_sources``.

Identity across marketplaces is decided here, on the ingest path, by the one matcher
(``storage.events.identity``): an existing source id wins; then a cross-reference the
marketplace gave (checked against time and venue); then the best candidate near the start
time by venue, time and name; otherwise a new event. Every decision for a new source is
kept in ``event_match_decisions`` with its reason and score.

Concurrency: two writers seeing the same new event at once must not both create it. A
fuzzy match has no unique key to lean on, so the decisions for new sources are serialised
by one transaction-scoped advisory lock (``IDENTITY_LOCK``), taken only when a batch holds
a source we have never seen (after the first crawl, almost never); the second writer waits,
then sees the first one's committed event among its candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from storage.events.identity import Candidate, Verdict, judge, judge_cross_ref, moved
from storage.events.venues import learn_alias, resolve_venue

if TYPE_CHECKING:
    import psycopg

    from storage.records import EventRecord

logger = logging.getLogger(__name__)

#: pg_advisory_xact_lock key of event-identity decisions ("ripcity identity")
IDENTITY_LOCK = 0x7269_6463_6964_656E
#: candidates are looked for this far around a start (covers a venue's UTC offset)
_SEARCH = timedelta(hours=15)

_SOURCE = "SELECT event_id FROM event_sources WHERE marketplace = %s AND source_event_id = %s"
_KNOWN = ("SELECT marketplace, source_event_id FROM event_sources "
          "WHERE (marketplace, source_event_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))")
_CANDIDATE_COLUMNS = """
SELECT e.id, e.name, e.performers, e.starts_at, e.venue_id, e.status, e.start_date,
       coalesce(e.timezone, v.timezone) AS timezone,
       coalesce(array_agg(s.marketplace) FILTER (WHERE s.marketplace IS NOT NULL), '{}'),
       coalesce(array_agg(s.name) FILTER (WHERE s.name IS NOT NULL), '{}')
FROM events e LEFT JOIN venues v ON v.id = e.venue_id
LEFT JOIN event_sources s ON s.event_id = e.id
"""
_NEAR = _CANDIDATE_COLUMNS + """
WHERE (e.starts_at BETWEEN %(lo)s AND %(hi)s) OR (e.starts_at IS NULL AND e.venue_id = %(venue)s)
GROUP BY e.id, v.timezone"""
_AT_VENUE = _CANDIDATE_COLUMNS + """
WHERE e.venue_id = %(venue)s
GROUP BY e.id, v.timezone"""
_BY_ID = _CANDIDATE_COLUMNS + "WHERE e.id = %(id)s GROUP BY e.id, v.timezone"
#: stored events whose sources name this record as the same event (it arrived after them)
_NAMED_BY = ("SELECT DISTINCT event_id, marketplace, source_event_id FROM event_sources "
             "WHERE cross_refs @> ARRAY[%s]::text[] ORDER BY event_id")
_LATER_START = "UPDATE events SET starts_at = greatest(starts_at, %s) WHERE id = %s"
# rows locked in key order, as every toucher takes them (two touches may wait, never deadlock)
_TOUCH = """
UPDATE event_sources es SET last_seen_at = now()
FROM (SELECT marketplace, source_event_id FROM event_sources
      WHERE (marketplace, source_event_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
      ORDER BY marketplace, source_event_id FOR UPDATE) k
WHERE es.marketplace = k.marketplace AND es.source_event_id = k.source_event_id
"""
_DECISION = ("INSERT INTO event_match_decisions (marketplace, source_event_id, event_id, "
             "candidate_id, decision, score, reason) VALUES (%s, %s, %s, %s, %s, %s, %s)")


def upsert_events(conn: psycopg.Connection, events: Sequence[EventRecord]
                  ) -> dict[tuple[str, str], int]:
    """Create or update canonical events and their sources, in one transaction.

    Returns:
        ``{(marketplace, source_event_id): event_id}`` for every record given.
    """
    ids: dict[tuple[str, str], int] = {}
    with conn.transaction():
        if _has_new_sources(conn, events):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (IDENTITY_LOCK,))
        for ev in events:
            key = (ev.marketplace, ev.source_event_id)
            if key in ids:
                continue
            venue_id = resolve_venue(conn, ev)
            row = conn.execute(_SOURCE, key).fetchone()
            if row is not None:
                event_id = int(row[0])
                _update_event(conn, event_id, ev, venue_id)
            else:
                event_id = _decide(conn, ev, venue_id)
            _upsert_source(conn, event_id, ev)
            ids[key] = event_id
    return ids


def touch_sources(conn: psycopg.Connection, sources: Sequence[tuple[str, str]]) -> int:
    """Move the last sighting (``last_seen_at``, which picks an event's buy link) of these
    known sources ``(marketplace, source_event_id)``, and nothing else: each was seen again
    as it was last written. Unknown ones are skipped; returns how many were found."""
    if not sources:
        return 0
    mks, sids = zip(*sources, strict=True)
    with conn.transaction():
        return conn.execute(_TOUCH, (list(mks), list(sids))).rowcount


def _has_new_sources(conn: psycopg.Connection, events: Sequence[EventRecord]) -> bool:
    keys = {(e.marketplace, e.source_event_id) for e in events}
    if not keys:
        return False
    mks, sids = zip(*keys, strict=True)
    known = conn.execute(_KNOWN, (list(mks), list(sids))).fetchall()
    return len(known) < len(keys)


def _candidates(conn: psycopg.Connection, query: str, params: dict) -> list[Candidate]:
    return [Candidate(int(r[0]), r[1], tuple(r[2] or ()), r[3], r[4], r[7], frozenset(r[8]),
                      tuple(r[9]), r[5], r[6]) for r in conn.execute(query, params)]


def _decide(conn: psycopg.Connection, ev: EventRecord, venue_id: int | None) -> int:
    """The event a never-seen source belongs to (a new one when none fits); the decision
    and its reason are recorded."""
    refused: Verdict | None = None
    xref: tuple[Verdict, Candidate] | None = None
    named = [(mk, sid, int(row[0])) for mk, sid in ev.cross_refs
             if (row := conn.execute(_SOURCE, (mk, sid)).fetchone()) is not None]
    named += [(mk, sid, int(eid)) for eid, mk, sid in conn.execute(
        _NAMED_BY, (f"{ev.marketplace}:{ev.source_event_id}",))]
    for mk, sid, eid in named:
        [cand] = _candidates(conn, _BY_ID, {"id": eid})
        verdict = judge_cross_ref(ev, venue_id, cand, (mk, sid))
        if verdict.score > 0:
            xref = (verdict, cand)
            break
        refused = verdict
    pool: dict[int, Candidate] = {}
    if ev.starts_at is not None:
        pool.update((c.id, c) for c in _candidates(
            conn, _NEAR, {"lo": ev.starts_at - _SEARCH, "hi": ev.starts_at + _SEARCH,
                          "venue": venue_id}))
    if venue_id is not None and (ev.starts_at is None or moved(ev)):
        pool.update((c.id, c) for c in _candidates(conn, _AT_VENUE, {"venue": venue_id}))
    judged = sorted(((judge(ev, venue_id, c), c) for c in pool.values()),
                    key=lambda vc: (-vc[0].score, vc[1].id))
    positive = [(v, c) for v, c in judged if v.score > 0]
    if xref is not None:
        verdict, cand = xref
        _join(conn, ev, venue_id, cand, verdict, unique=True)
        return _bridge(conn, ev, cand, [(v, c) for v, c in positive if c.id != cand.id])
    if positive and not (positive[0][0].tba and len(positive) > 1):
        verdict, cand = positive[0]
        if refused is not None:
            verdict = Verdict(verdict.score, f"{refused.reason}; {verdict.reason}")
        _join(conn, ev, venue_id, cand, verdict, unique=len(positive) == 1)
        return _bridge(conn, ev, cand, positive[1:])
    event_id = _create_event(conn, ev, venue_id)
    if positive:  # several to-be-announced candidates: not guessing
        reason = f"start to be announced and {len(positive)} events fit: kept apart"
        best = positive[0]
    elif judged:
        best = judged[0]
        reason = f"no candidate fits; nearest event {best[1].id}: {best[0].reason}"
    else:
        best, reason = None, "no event near its start"
    if refused is not None:
        reason = f"{refused.reason}; {reason}"
    conn.execute(_DECISION, (ev.marketplace, ev.source_event_id, event_id,
                             best[1].id if best else None, "new",
                             best[0].score if best else None, reason))
    return event_id


def _bridge(conn: psycopg.Connection, ev: EventRecord, joined: Candidate,
            others: list[tuple[Verdict, Candidate]]) -> int:
    """Later evidence: ``ev`` fits ``joined`` and also another stored event that the first
    could not be matched with (one had no venue, or the time as UTC, or a start to be
    announced, or a date before a rescheduling). When their marketplaces do not overlap and
    their venues agree, they are one event: merged, the older id surviving. Returns the
    event ``ev`` now belongs to."""
    from storage.events.merge import merge_into

    markets = set(joined.marketplaces) | {ev.marketplace}
    venue, survivor = joined.venue_id, joined.id
    tba = [c for v, c in others if v.tba]
    for verdict, other in others:
        if markets & other.marketplaces or verdict.moved or (verdict.tba and len(tba) > 1):
            continue
        if venue is not None and other.venue_id is not None and venue != other.venue_id:
            continue
        survivor, gone = min(survivor, other.id), max(survivor, other.id)
        merge_into(conn, survivor, gone, by="matcher", reason=(
            f"{ev.marketplace}:{ev.source_event_id} fits both events ({verdict.reason})"))
        markets |= other.marketplaces
        venue = venue if venue is not None else other.venue_id
    return survivor


def _join(conn: psycopg.Connection, ev: EventRecord, venue_id: int | None, cand: Candidate,
          verdict: Verdict, *, unique: bool) -> int:
    conn.execute(_DECISION, (ev.marketplace, ev.source_event_id, cand.id, cand.id,
                             "matched", verdict.score, verdict.reason))
    if venue_id is None and cand.venue_id is not None and unique and not verdict.tba:
        learn_alias(conn, ev, cand.venue_id)
    _update_event(conn, cand.id, ev, venue_id, fill_only=True)
    if verdict.moved:  # a postponement moves a date later: the later one is the new date
        conn.execute(_LATER_START, (ev.starts_at, cand.id))
    return cand.id


def _create_event(conn: psycopg.Connection, ev: EventRecord, venue_id: int | None) -> int:
    row = conn.execute(
        "INSERT INTO events (name, starts_at, venue_id, category, performers, status, timezone, "
        "start_date) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (ev.name, ev.starts_at, venue_id, ev.category, list(ev.performers),
         ev.status, ev.timezone, ev.start_date),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _update_event(conn: psycopg.Connection, event_id: int, ev: EventRecord,
                  venue_id: int | None, *, fill_only: bool = False) -> None:
    """Refresh an event from a marketplace; a matched (other) marketplace only fills gaps,
    except that a postponement or cancellation from any of them is news."""
    if fill_only:
        conn.execute(
            "UPDATE events SET starts_at = coalesce(starts_at, %s), "
            "venue_id = coalesce(venue_id, %s), category = coalesce(category, %s), "
            "timezone = coalesce(timezone, %s), performers = CASE WHEN cardinality(performers) "
            "= 0 THEN %s::text[] ELSE performers END, status = CASE WHEN %s::text IN "
            "('postponed', 'rescheduled', 'cancelled') THEN %s ELSE status END, "
            "updated_at = now() WHERE id = %s",
            (ev.starts_at, venue_id, ev.category, ev.timezone, list(ev.performers), ev.status,
             ev.status, event_id),
        )
        return
    conn.execute(
        "UPDATE events SET name = %s, starts_at = coalesce(%s, starts_at), "
        "venue_id = coalesce(%s, venue_id), category = coalesce(%s, category), "
        "performers = CASE WHEN cardinality(%s::text[]) > 0 THEN %s::text[] ELSE performers END, "
        "status = %s, timezone = coalesce(%s, timezone), updated_at = now() WHERE id = %s",
        (ev.name, ev.starts_at, venue_id, ev.category, list(ev.performers),
         list(ev.performers), ev.status, ev.timezone, event_id),
    )


def _upsert_source(conn: psycopg.Connection, event_id: int, ev: EventRecord) -> None:
    conn.execute(
        "INSERT INTO event_sources (marketplace, source_event_id, event_id, url, name, "
        "venue_source_id, cross_refs) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (marketplace, source_event_id) DO UPDATE SET "
        "event_id = event_sources.event_id, url = coalesce(EXCLUDED.url, event_sources.url), "
        "name = EXCLUDED.name, venue_source_id = EXCLUDED.venue_source_id, "
        "cross_refs = EXCLUDED.cross_refs, last_seen_at = now()",
        (ev.marketplace, ev.source_event_id, event_id, ev.url, ev.name, ev.venue_source_id,
         [f"{m}:{s}" for m, s in ev.cross_refs]),
    )
