"""The event matcher: how surely a marketplace's event is one we already store, and why.

Pure scoring (no I/O), used by ``storage.events.upsert`` on the ingest path. A decision is a
``Verdict``: a score (0 = certainly not) and a reason an operator can read. Rules, in order:

- a candidate that already has an event from the record's marketplace never matches (one
  source per marketplace per event, so an early and a late show stay apart);
- another venue never matches (venues have identity of their own: ``storage.events.venues``);
- both start times known: within ``TOLERANCE``, or apart by exactly the venue's UTC offset
  (a marketplace that gave local time as UTC), or both postponed at the same venue (one
  marketplace may still show the old date); a start to be announced matches only through
  the name at the same venue on its announced date (the caller wants a lone candidate);
- names agree: normalised words of name and performers (team nicknames, "NBA:", "@", "vs."
  and "at" folded), one side's words within the other's or the differing words alike;
- a marketplace's cross-reference wins over names, unless time or venue contradict it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapidfuzz import fuzz

if TYPE_CHECKING:
    from storage.records import EventRecord

TOLERANCE = timedelta(minutes=90)
#: without a venue on one side, the starts must agree this closely (the same act may play
#: another venue an hour later the same night)
TOLERANCE_NO_VENUE = timedelta(minutes=30)
#: names at least this similar (0..100) match when time and place agree
NAME_THRESHOLD = 72.0
CROSS_REF_SCORE = 200.0
MOVED = frozenset({"postponed", "rescheduled"})
#: how far a postponement may move a date (a sibling further apart is another show)
MOVED_WITHIN = timedelta(days=60)
_OFFSET_SLACK = 10 * 60  # seconds

_NOISE = re.compile(r"\b(tickets?|vs\.?|versus|v\.?|at|the|live|presents|in concert|tour|"
                    r"and|&|feat\.?|featuring|with|nba|mls|nwsl|fc)\b|[^\w\s]")
_SPACES = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A stored event as the matcher sees it."""

    id: int
    name: str
    performers: tuple[str, ...]
    starts_at: datetime | None
    venue_id: int | None
    timezone: str | None
    marketplaces: frozenset[str]
    source_names: tuple[str, ...] = ()
    status: str = "onsale"
    start_date: date | None = None  # local date of a start to be announced


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    score: float  # 0 = not the same event
    reason: str
    tba: bool = False  # decided without a start time (the caller wants it unique)
    moved: bool = False  # the dates differ, accepted only because the event was postponed


@functools.lru_cache(maxsize=65536)
def norm(text: str | None) -> str:
    """Lower case, punctuation and filler words removed."""
    if not text:
        return ""
    return _SPACES.sub(" ", _NOISE.sub(" ", text.lower())).strip()


@functools.lru_cache(maxsize=65536)
def _tokens(name: str, performers: tuple[str, ...]) -> frozenset[str]:
    return frozenset(norm(" ".join((name, *performers))).split())


def name_score(a: tuple[str, tuple[str, ...]], b: tuple[str, tuple[str, ...]]) -> float:
    """Name agreement 0..100 of (name, performers) pairs: one side's words all within the
    other's is a full match ("Trail Blazers vs. Warriors" / "Portland Trail Blazers vs.
    Golden State Warriors"); words unique to each side must look alike ("Lakers" vs
    "Celtics" does not), which token-set similarity alone would overlook."""
    ta, tb = _tokens(*a), _tokens(*b)
    if not ta or not tb:
        return 0.0
    only_a, only_b = ta - tb, tb - ta
    if not only_a or not only_b:
        return 100.0 if ta & tb else 0.0
    shared = len(ta & tb) / min(len(ta), len(tb))
    leftovers = fuzz.ratio(" ".join(sorted(only_a)), " ".join(sorted(only_b))) / 100.0
    return 100.0 * (0.5 * shared + 0.5 * leftovers) * leftovers ** 0.5


def _utc_offset(tz: str | None, at: datetime) -> float | None:
    if not tz:
        return None
    try:
        off = at.astimezone(ZoneInfo(tz)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return off.total_seconds() if off is not None else None


def _time(rec: EventRecord, c: Candidate, *, venue_known: bool = True
          ) -> tuple[float, str] | None:
    """(closeness 0..1, reason) when the starts agree, else None."""
    assert rec.starts_at is not None and c.starts_at is not None
    gap = (rec.starts_at - c.starts_at).total_seconds()
    window = (TOLERANCE if venue_known else TOLERANCE_NO_VENUE).total_seconds()
    if abs(gap) <= window:
        return 1.0 - abs(gap) / window, f"starts {abs(gap) / 60:.0f} min apart"
    if not venue_known:
        return None
    offset = _utc_offset(c.timezone or rec.timezone, c.starts_at)
    if offset and abs(abs(gap) - abs(offset)) <= _OFFSET_SLACK:
        return 0.5, f"starts {gap / 3600:+.1f} h apart: the venue's UTC offset (local time as UTC)"
    return None


def _local_dates(rec: EventRecord, c: Candidate) -> tuple[date, date] | None:
    """Both sides' local dates when both are known (a TBA side by its announced date)."""
    def local(start: datetime | None, day: date | None, tz: str | None) -> date | None:
        if day is not None:
            return day
        if start is None:
            return None
        try:
            return start.astimezone(ZoneInfo(tz)).date() if tz else start.date()
        except (ZoneInfoNotFoundError, ValueError):
            return start.date()
    tz = c.timezone or rec.timezone
    a, b = local(rec.starts_at, rec.start_date, tz), local(c.starts_at, c.start_date, tz)
    return (a, b) if a is not None and b is not None else None


def moved(rec: EventRecord, c: Candidate | None = None) -> bool:
    """A postponed or rescheduled event: a marketplace may still show the old date."""
    return bool({rec.status, c.status if c else ""} & MOVED)


def judge(rec: EventRecord, venue_id: int | None, c: Candidate) -> Verdict:
    """How surely ``rec`` (at our venue ``venue_id``, None = unknown) is candidate ``c``."""
    if rec.marketplace in c.marketplaces:
        return Verdict(0.0, f"event {c.id} already has a {rec.marketplace} event")
    if venue_id is not None and c.venue_id is not None and venue_id != c.venue_id:
        return Verdict(0.0, f"other venue ({venue_id} vs {c.venue_id})")
    tba = rec.starts_at is None or c.starts_at is None
    was_moved = False
    if tba:
        if venue_id is None or c.venue_id is None:
            return Verdict(0.0, "start to be announced and venue unknown")
        days = _local_dates(rec, c)
        if days is not None and days[0] != days[1]:
            return Verdict(0.0, f"start to be announced on {days[0]}, the other on {days[1]}")
        closeness, when = 0.0, "start to be announced" + (f" on {days[0]}" if days else "")
    else:
        timed = _time(rec, c, venue_known=venue_id is not None and c.venue_id is not None)
        gap = abs((rec.starts_at - c.starts_at).total_seconds()) / 3600  # type: ignore[operator]
        # both sides postponed (a sibling on sale on another date is another show)
        was_moved = (timed is None and rec.status in MOVED and c.status in MOVED
                     and gap <= MOVED_WITHIN.total_seconds() / 3600
                     and venue_id is not None and venue_id == c.venue_id)
        if was_moved:
            tba = True  # judged like a start to be announced: only a lone candidate fits
            timed = (0.0, f"postponed: dates {gap:.0f} h apart")
        if timed is None:
            return Verdict(0.0, f"starts {gap:.1f} h apart")
        closeness, when = timed
    names = max(name_score((rec.name, rec.performers), (n, c.performers))
                for n in (c.name, *c.source_names))
    if names < NAME_THRESHOLD:
        return Verdict(0.0, f"names differ ({names:.0f} < {NAME_THRESHOLD:.0f}); {when}")
    venue = 100.0 if venue_id is not None and venue_id == c.venue_id else 50.0
    where = "same venue" if venue == 100.0 else "venue unknown on one side"
    score = names * 0.8 + venue * 0.15 + closeness * 5.0 - (10.0 if tba else 0.0)
    return Verdict(round(score, 2), f"names agree ({names:.0f}); {where}; {when}", tba,
                   was_moved)


def judge_cross_ref(rec: EventRecord, venue_id: int | None, c: Candidate,
                    ref: tuple[str, str]) -> Verdict:
    """A marketplace's own cross-reference, checked against time and venue (a wrong one is
    refused with its reason, and the record goes through the other rules)."""
    what = f"{rec.marketplace} names {ref[0]}:{ref[1]} as the same event"
    if rec.marketplace in c.marketplaces:
        return Verdict(0.0, f"{what}, but event {c.id} already has a {rec.marketplace} event")
    if venue_id is not None and c.venue_id is not None and venue_id != c.venue_id:
        return Verdict(0.0, f"{what}, but at another venue: cross-reference refused")
    if rec.starts_at is not None and c.starts_at is not None and _time(rec, c) is None \
            and not moved(rec, c):
        gap = abs((rec.starts_at - c.starts_at).total_seconds()) / 3600
        return Verdict(0.0, f"{what}, but it starts {gap:.1f} h apart: cross-reference refused")
    return Verdict(CROSS_REF_SCORE, what)
