"""The hard cases of event identity, on by default in every world.

``schedule`` reshapes the drafted events (before ids are drawn): an early and a late show
of the same act at the same venue on the same night; the same act at two venues on one
night; no two events of a venue at the very same start. ``present`` then gives each event
the way each marketplace shows it: NBA games titled three ways ("Golden State Warriors at
Portland Trail Blazers" / "Trail Blazers vs. Warriors" / "NBA: Warriors @ Blazers"),
SeatGeek giving local time as UTC or "TBA", a rescheduled event that StubHub still shows on
its old date, and StubHub cross-references that name the wrong Ticketmaster event. The
truth (``sandbox.truth``) keeps the real identity and labels each event's cases.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sandbox.hashing import unit

if TYPE_CHECKING:
    from sandbox.world import WorldEvent

#: (name, kind, "venue:seat map", performers, start epoch s, popularity)
Draft = tuple[str, str, str, tuple[str, ...], int, float]
Labels = dict[tuple[str, str, int], list[str]]

LATE_SHOW_AFTER = 2 * 3600 + 30 * 60
TWIN_VENUE_AFTER = 3600
RESCHEDULED_BY = 21 * 86_400
_CLUB_VENUES = ("crystal:ga", "roseland:ga", "dougfir:ga")
#: share of events (of those a case applies to) that get it
LOCAL_AS_UTC, TBA, WRONG_REF, RESCHEDULED = 0.06, 0.04, 0.05, 0.5


def schedule(seed: int, drafts: list[Draft]) -> tuple[list[Draft], Labels]:
    out = list(drafts)
    labels: Labels = {}

    def label(d: Draft, case: str) -> None:
        labels.setdefault((d[0], d[2].split(":")[0], d[4]), []).append(case)

    comedy = [i for i, d in enumerate(out) if d[1] == "comedy"]
    for a, b in zip(comedy[0::2], comedy[1::2], strict=False):  # early and late show
        if unit(seed, "late-show", a) < 0.5:
            first = out[a]
            out[b] = (first[0], first[1], first[2], first[3], first[4] + LATE_SHOW_AFTER,
                      out[b][5])
            label(first, "early show"), label(out[b], "late show")
    club = [i for i, d in enumerate(out) if d[1] == "club"]
    for a, b in zip(club[0::2], club[1::2], strict=False):  # one act, two venues, one night
        if unit(seed, "twin-venue", a) < 0.3:
            first = out[a]
            other = next(v for v in _CLUB_VENUES if v != first[2])
            out[b] = (first[0], first[1], other, first[3], first[4] + TWIN_VENUE_AFTER,
                      out[b][5])
            label(first, "same act, two venues"), label(out[b], "same act, two venues")
    taken: set[tuple[str, int]] = set()
    for i, d in enumerate(out):  # a venue never holds two events at the very same start
        start = d[4]
        while (d[2].split(":")[0], start) in taken:
            start += 86_400
        taken.add((d[2].split(":")[0], start))
        if start != d[4]:
            out[i] = (d[0], d[1], d[2], d[3], start, d[5])
    return out, labels


def _nickname(team: str) -> str:
    return "Trail Blazers" if team.endswith("Trail Blazers") else team.split()[-1]


def present(seed: int, events: list[WorldEvent], labels: Labels,
            world_start: int) -> list[WorldEvent]:
    out = []
    tm_ids = [e.ids["ticketmaster"] for e in events if "ticketmaster" in e.ids]
    same_night = {(e.name, e.venue.key, e.start_local.date()) for e in events
                  if sum(1 for o in events if o.name == e.name and o.venue.key == e.venue.key
                         and o.start_local.date() == e.start_local.date()) > 1}
    for e in events:
        cases = list(labels.get((e.name, e.venue.key, e.start), []))
        titles: dict[str, str] = {}
        quirks: set[str] = set()
        previous = None
        if e.category == "basketball":
            away = e.performers[1]
            titles["seatgeek"] = f"{away} at Portland Trail Blazers"
            titles["stubhub"] = (f"NBA: {_nickname(away)} @ Blazers" if e.index % 2
                                 else f"Trail Blazers vs. {_nickname(away)}")
            cases.append("team names")
        u = unit(e.uid, "identity-quirk")
        if (e.name, e.venue.key, e.start_local.date()) not in same_night:
            if u < LOCAL_AS_UTC:
                quirks.add("seatgeek:local-as-utc")
                cases.append("local time as UTC")
            elif u < LOCAL_AS_UTC + TBA:
                quirks.add("seatgeek:tba")
                cases.append("start TBA")
        if "ticketmaster" in e.ids and unit(e.uid, "wrong-ref") < WRONG_REF:
            wrong = tm_ids[(tm_ids.index(e.ids["ticketmaster"]) + 5) % len(tm_ids)]
            quirks.add(f"stubhub:wrong-ref={wrong}")
            cases.append("wrong cross-reference")
        if (e.status == "postponed" and unit(e.uid, "rescheduled") < RESCHEDULED
                and e.start - RESCHEDULED_BY > world_start + 2 * 86_400):
            previous = e.start - RESCHEDULED_BY
            quirks.add("stubhub:stale-date")
            cases.append("rescheduled (StubHub shows the old date)")
        if e.status == "cancelled":
            cases.append("cancelled")
        out.append(dataclasses.replace(e, titles=titles, quirks=frozenset(quirks),
                                       previous_start=previous, cases=tuple(cases)))
    return out
