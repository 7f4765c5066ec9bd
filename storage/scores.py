"""Persist deal scores onto ``listings_current`` (what the API's deal views read).

One binary COPY of (marketplace, listing_id, scores) into a temp table, then one UPDATE.
A score is written only onto the observation it was computed for (``last_seen`` not newer),
so a slow scorer never overwrites a newer price's score with an older one.

The UPDATE is pinned to primary-key probes: the stage has no statistics, so after a COPY
the planner sees a big stage and picks a hash join over a sequential scan of all of
``listings_current`` -- per batch, which made scoring quadratic in the table's size (the
pipeline's biggest cost at 300k listings). The stage is also sorted by key, so probes walk
the index in order. A re-crawl re-scores every listing, but a stored score is rewritten
only when it moved by what a person could see: another model, a score appearing or
vanishing, a deal score half a point or more away (it is shown whole, out of 100, so a
stored score is never more than half a point stale), a fair value a dollar or more away,
or a reason that says something else. The reason's leading amounts ("$84 (31 %) below
...") follow the fair value, so they are compared through it (the stored ones may lag by
the dollar, and the percent derived from it, that the fair value may); the rest of the
text (above or below, the section, "lowest ... for 14 days") must match exactly. An hour
on the clock (days to the event, the event's other box-office prices) nudges many scores
and fair values a little: rewriting every change of 0.05 point or more rewrote about a
quarter of the unchanged listings on each re-crawl (non-HOT updates through both
deal-score indexes); comparing the reasons' text whole still rewrote 24 % of them (75k of
313k re-scored in ``bench.pipeline --listings 400000``), mostly for a dollar that rounded
the other way. ``scored_at`` says when a score was last written.

The ingest writer applies the same rule before sending anything (``moved``, over the stored
scores it reads with the listings' state): of a re-crawl's unchanged listings only those
whose score visibly moved reach this UPDATE, which checks again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.copy import copy_arrow

if TYPE_CHECKING:
    import psycopg

#: what is staged per listing, in the stage's column order and types
_STAGED = pa.schema([
    pa.field("marketplace", pa.string()), pa.field("listing_id", pa.string()),
    pa.field("observed_at", pa.timestamp("us", tz="UTC")),
    pa.field("fair_value_cents", pa.int64()), pa.field("deal_score", pa.float64()),
    pa.field("deal_reason", pa.string()), pa.field("model_version", pa.string())])
_TARGET = f"_ripcity_scores ({', '.join(_STAGED.names)})"  # for copy_arrow
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS _ripcity_scores (
    marketplace text COLLATE "C", listing_id text COLLATE "C", observed_at timestamptz,
    fair_value_cents bigint, deal_score double precision, deal_reason text,
    model_version text
) ON COMMIT DELETE ROWS
"""
_EMPTY_STAGE = "DELETE FROM _ripcity_scores"
# Pin the UPDATE to primary-key probes (see the module docstring), for this transaction.
_PROBES_ONLY = ("SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off")
#: what "visibly moved" means (the dashboard shows a score whole, out of 100, and dollars)
_SCORE_STEP, _FAIR_VALUE_STEP = 0.5, 100
#: where a reason's leading amounts end (``engine.deals.reasons`` builds them this way)
_AMOUNTS_END = " %) "


def reason_tail_sql(column: str) -> str:
    """SQL for a reason past its leading amounts (the whole text when it has none)."""
    return f"substr({column}, strpos({column}, '{_AMOUNTS_END}'))"


_UPDATE = f"""
UPDATE listings_current c SET fair_value_cents = s.fair_value_cents,
    deal_score = s.deal_score, deal_reason = s.deal_reason,
    model_version = s.model_version, scored_at = now()
FROM _ripcity_scores s
WHERE c.marketplace = s.marketplace AND c.listing_id = s.listing_id
  AND c.last_seen <= s.observed_at
  AND (c.model_version IS DISTINCT FROM s.model_version
       OR {reason_tail_sql("c.deal_reason")} IS DISTINCT FROM {reason_tail_sql("s.deal_reason")}
       OR (c.deal_score IS NULL) <> (s.deal_score IS NULL)
       OR abs(c.deal_score - s.deal_score) >= {_SCORE_STEP}
       OR (c.fair_value_cents IS NULL) <> (s.fair_value_cents IS NULL)
       OR abs(c.fair_value_cents - s.fair_value_cents) >= {_FAIR_VALUE_STEP})
"""


_TAIL_PATTERN = "^(?s:.*?)(" + _AMOUNTS_END.replace(")", r"\)") + ")"  # RE2: first mark on


def reason_tail(reason: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """``reason_tail_sql`` in Arrow: each reason from the first end of its amounts."""
    return pc.replace_substring_regex(reason, pattern=_TAIL_PATTERN, replacement=r"\1",
                                      max_replacements=1)


def moved(stored: pa.Table, scored: pa.Table) -> np.ndarray:
    """Which scores ``_UPDATE`` would rewrite, as a boolean mask: ``stored`` holds the
    listings' stored ``fair_value_cents``, ``deal_score``, ``model_version`` and the
    ``reason_tail`` of their reason, ``scored`` the new scores, row for row (one rule for
    the writer's filter and for the UPDATE, which checks again)."""
    def differs(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
        return pc.if_else(pc.and_(pc.is_valid(a), pc.is_valid(b)), pc.not_equal(a, b),
                          pc.not_equal(pc.is_valid(a), pc.is_valid(b)))

    def apart(a: pa.ChunkedArray, b: pa.ChunkedArray, step: float) -> pa.ChunkedArray:
        return pc.or_(pc.not_equal(pc.is_valid(a), pc.is_valid(b)),
                      pc.fill_null(pc.greater_equal(pc.abs(pc.subtract(a, b)), step), False))

    visible = (
        differs(stored["model_version"], scored["model_version"]),
        differs(stored["reason_tail"], reason_tail(scored["deal_reason"])),
        apart(stored["deal_score"].cast(pa.float64()), scored["deal_score"].cast(pa.float64()),
              _SCORE_STEP),
        apart(stored["fair_value_cents"], scored["fair_value_cents"], _FAIR_VALUE_STEP),
    )
    out = np.zeros(stored.num_rows, bool)
    for mask in visible:
        out |= pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return out


def write_scores(conn: psycopg.Connection, scored: pa.RecordBatch | pa.Table) -> int:
    """Store a scored batch's scores; returns the listings updated."""
    if scored.num_rows == 0:
        return 0
    table = scored if isinstance(scored, pa.Table) else pa.Table.from_batches([scored])
    table = table.select(_STAGED.names).cast(_STAGED)
    table = table.sort_by([("marketplace", "ascending"), ("listing_id", "ascending")])
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_STAGE)
        # emptied at commit; called twice in one transaction (a savepoint, as in the tests),
        # the second UPDATE would otherwise meet the first call's rows too
        cur.execute(_EMPTY_STAGE)
        for statement in _PROBES_ONLY:
            cur.execute(statement)
        copy_arrow(cur, table, _TARGET)
        return cur.execute(_UPDATE).rowcount
