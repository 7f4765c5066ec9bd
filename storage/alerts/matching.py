"""Rule matching: a committed batch's changed listings against every active rule, set-based.

Cost grows with the changes, not with the number of rules (see :mod:`storage.alerts._match_sql`
for the statements and the indexes they probe). One call is one transaction: the changes
are copied into session temp tables, the touched events' get-in state is locked, updated and
kept as history (and so is the get-in price of each touched section, for rules with
sections), and the hits become matches and outbox rows (:mod:`storage.alerts.outbox`), so
the dispatchers are notified at commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from storage.alerts import _match_sql as q
from storage.alerts.outbox import write_outbox
from storage.alerts.saved_matching import match_saved_searches
from storage.copy import copy_arrow
from storage.ingest import CHANGE_SCHEMA

if TYPE_CHECKING:
    import psycopg

#: One row per listing that changed (``old_total_cents`` null = new listing): storage's
#: change rows plus what scoring and matching add. The columns of ``_am_changes``.
MATCH_SCHEMA = pa.schema([
    *CHANGE_SCHEMA,
    pa.field("deal_score", pa.float64()),
    pa.field("source_event_id", pa.string()),  # resolves event_id when that is null
    pa.field("is_new", pa.bool_()),  # null = unknown (a scored batch): never "new"
])


@dataclasses.dataclass(frozen=True, slots=True)
class MatchCounts:
    """What one batch matched: rule hits, new matches after dedupe, outbox rows written."""

    hits: int = 0
    matches: int = 0
    outbox: int = 0


def _copy_changes(cur: psycopg.Cursor[Any], listings: pa.Table) -> None:
    if listings.num_rows == 0:
        return
    cols = ", ".join(f'"{n}"' for n in MATCH_SCHEMA.names)
    copy_arrow(cur, listings.cast(MATCH_SCHEMA), f"_am_changes ({cols})")


def match_changes(conn: psycopg.Connection[Any], listings: pa.Table,
                  gone_events: Sequence[int], gone_at: datetime | None) -> MatchCounts:
    """Match changed ``listings`` (``MATCH_SCHEMA``) and the events whose listings went
    away (``gone_events``, latest ``gone_at``) in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(q.NO_JIT)
        cur.execute(q.DDL)
        _copy_changes(cur, listings)
        cur.execute(q.RESOLVE_EVENTS)
        if listings.column("deal_score").null_count:  # a scored batch's carry them
            cur.execute(q.FILL_SCORES)
        cur.execute(q.EVENTS, {"gone": list(gone_events), "gone_at": gone_at})
        cur.execute(q.LOCK_STATE)
        cur.execute(q.EVENT_PRICES)
        cur.execute(q.ANALYZE_CHANGES)
        cur.execute(q.CANDIDATES)
        sections = cur.execute(q.SECTIONS).rowcount > 0  # only with section rules
        if sections:
            cur.execute(q.SECTION_PREV)
            cur.execute(q.SECTION_SETTLED)
            cur.execute(q.SECTION_GET_IN)
        if cur.execute(q.ANY_PRICE_RULES).fetchone()[0]:
            cur.execute(q.PRICE_HITS)
        cur.execute(q.OTHER_LISTING_HITS)
        cur.execute(q.DROP_HITS)
        cur.execute(q.LOW_HITS)
        if sections:
            cur.execute(q.SECTION_LOW_HITS)
        cur.execute(q.STOCK_HITS)
        cur.execute(q.PROTECT_HITS)
        hits = cur.execute(q.COUNT_HITS).fetchone()[0]
        if hits:
            cur.execute(q.SAVE_EVIDENCE)
        cur.execute(q.SAVE_STATE)
        cur.execute(q.SAVE_HISTORY)
        if sections:
            cur.execute(q.SAVE_SECTION_HISTORY)
        matches, outbox = write_outbox(cur) if hits else (0, 0)
        s_hits, s_matches, s_outbox = match_saved_searches(cur)
    return MatchCounts(int(hits) + s_hits, matches + s_matches, outbox + s_outbox)
