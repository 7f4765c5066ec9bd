"""Event identity across marketplaces: the same game listed on all four becomes one event.

Two records are the same event when a marketplace says so (a cross-reference such as
StubHub's ``externalEventMappings`` naming the Ticketmaster id), or when they start within
``tolerance`` of each other at the same venue (or, without venues, in the same city) and
their names agree (normalised words of name and performers: one side's words within the
other's, or the differing words alike by rapidfuzz). A cluster holds at most one record per
marketplace; the strongest pairs join first, so a double-header at one venue stays two
events.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

if TYPE_CHECKING:
    from storage.records import EventRecord

__all__ = ["DEFAULT_TOLERANCE", "match_events", "match_to_existing", "name_score",
           "similarity"]

DEFAULT_TOLERANCE = timedelta(minutes=90)
#: names at least this similar (0..100) match when time and place agree
NAME_THRESHOLD = 72.0
VENUE_THRESHOLD = 60.0

_NOISE = re.compile(r"\b(tickets?|vs\.?|versus|v\.?|at|the|live|presents|in concert|tour|"
                    r"and|&|feat\.?|featuring|with)\b|[^\w\s]")
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=65536)
def _norm(text: str | None) -> str:
    if not text:
        return ""
    cleaned = _NOISE.sub(" ", text.lower())
    return _SPACES.sub(" ", cleaned).strip()


@functools.lru_cache(maxsize=65536)
def _tokens(name: str, performers: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_norm(" ".join((name, *performers))).split())


def name_score(a: EventRecord, b: EventRecord) -> float:
    """Name agreement 0..100: one name's words all within the other's is a full match
    ("Hamilton" / "Hamilton Touring"); words unique to each side must look alike
    ("Lakers" vs "Celtics" does not), which token-set similarity alone would overlook."""
    ta, tb = _tokens(a.name, a.performers), _tokens(b.name, b.performers)
    if not ta or not tb:
        return 0.0
    only_a, only_b = ta - tb, tb - ta
    if not only_a or not only_b:
        return 100.0 if ta & tb else 0.0
    shared = len(ta & tb) / min(len(ta), len(tb))
    leftovers = fuzz.ratio(" ".join(sorted(only_a)), " ".join(sorted(only_b))) / 100.0
    return 100.0 * (0.5 * shared + 0.5 * leftovers) * leftovers ** 0.5


def _venue_score(a: EventRecord, b: EventRecord) -> float | None:
    """Venue agreement 0..100, or None when either side does not name a venue or city."""
    if a.venue_name and b.venue_name:
        return fuzz.token_set_ratio(_norm(a.venue_name), _norm(b.venue_name))
    if a.venue_city and b.venue_city:
        return 100.0 if _norm(a.venue_city) == _norm(b.venue_city) else 0.0
    return None


def _refers(a: EventRecord, b: EventRecord) -> bool:
    return (b.marketplace, b.source_event_id) in a.cross_refs or \
        (a.marketplace, a.source_event_id) in b.cross_refs


def similarity(a: EventRecord, b: EventRecord,
               tolerance: timedelta = DEFAULT_TOLERANCE) -> float:
    """How surely ``a`` and ``b`` are the same event, 0..100 (0 = certainly not).

    A cross-reference scores above any name match (200); otherwise both start times must be
    known and within ``tolerance``, and the venue must agree when both name one.
    """
    if a.marketplace == b.marketplace:
        return 0.0
    if _refers(a, b):
        return 200.0
    if a.starts_at is None or b.starts_at is None:
        return 0.0
    gap = abs((a.starts_at - b.starts_at).total_seconds())
    if gap > tolerance.total_seconds():
        return 0.0
    venue = _venue_score(a, b)
    if venue is not None and venue < VENUE_THRESHOLD:
        return 0.0
    name = name_score(a, b)
    if name < NAME_THRESHOLD:
        return 0.0
    # closer in time and place breaks ties between near-identical candidates
    closeness = 1.0 - gap / max(tolerance.total_seconds(), 1.0)
    return name * 0.8 + (venue if venue is not None else 50.0) * 0.15 + closeness * 5.0


def match_events(records: Sequence[EventRecord],
                 tolerance: timedelta = DEFAULT_TOLERANCE) -> list[list[EventRecord]]:
    """Cluster records so each cluster is one real-world event (one record per marketplace).

    Records are compared only with those starting within ``tolerance`` (sorted sweep), so
    the cost grows with the number of records near each start time, not with n squared.
    Records without a start time join only through cross-references.
    """
    items = list(records)
    parent = list(range(len(items)))
    markets = [{r.marketplace} for r in items]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs: list[tuple[float, int, int]] = []
    by_key = {(r.marketplace, r.source_event_id): i for i, r in enumerate(items)}
    for i, r in enumerate(items):
        for ref in r.cross_refs:
            j = by_key.get(ref)
            if j is not None and j != i:
                pairs.append((200.0, i, j))
    timed = sorted((i for i, r in enumerate(items) if r.starts_at is not None),
                   key=lambda i: items[i].starts_at)  # type: ignore[arg-type,return-value]
    for pos, i in enumerate(timed):
        start = items[i].starts_at
        for j in timed[pos + 1:]:
            if items[j].starts_at - start > tolerance:  # type: ignore[operator]
                break
            score = similarity(items[i], items[j], tolerance)
            if score > 0:
                pairs.append((score, i, j))
    pairs.sort(key=lambda p: -p[0])
    for _score, i, j in pairs:
        ri, rj = find(i), find(j)
        if ri == rj or markets[ri] & markets[rj]:
            continue
        parent[rj] = ri
        markets[ri] |= markets[rj]
    clusters: dict[int, list[EventRecord]] = {}
    for i, r in enumerate(items):
        clusters.setdefault(find(i), []).append(r)
    return list(clusters.values())


def match_to_existing(record: EventRecord, candidates: Sequence[EventRecord],
                      tolerance: timedelta = DEFAULT_TOLERANCE) -> EventRecord | None:
    """The candidate ``record`` is the same event as (best match), or None.

    ``candidates`` are known events (e.g. one representative record per stored event near
    the record's start time); candidates from the record's own marketplace never match.
    """
    best, best_score = None, 0.0
    for candidate in candidates:
        score = similarity(record, candidate, tolerance)
        if score > best_score:
            best, best_score = candidate, score
    return best
