"""The write path's SQL text: staging, state reads, snapshot and current-state writes, gone
marking, crawl records, per-event versions and the side tables.

No I/O here. The status letters in the statements (``'n'``, ``'c'``, ``'s'``, ``'g'``) are
``classify``'s (see ``storage.ingest.classify``).
"""

from __future__ import annotations

from storage.records import LISTING_SCHEMA
from storage.scores import reason_tail_sql

_QCOLS = ", ".join(f'"{c}"' for c in LISTING_SCHEMA.names)

# Whether this session's stage exists yet, and the room it gets in memory before its first use.
STAGE_EXISTS = "SELECT to_regclass('pg_temp._ripcity_stage')"
TEMP_BUFFERS = "SET temp_buffers = '128MB'"

# The rows to write, with their resolved event and status (for refused rows, the reason),
# and their deal scores when the caller scored the batch (``model_version`` null: unscored).
# Only rows that change something get here: an unchanged re-crawl never touches the server.
STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS _ripcity_stage (
    observed_at timestamptz, marketplace text COLLATE "C", listing_id text COLLATE "C",
    source_event_id text COLLATE "C",
    section text, "row" text, seats text, quantity integer, splits text,
    price_cents bigint, fees_cents bigint, total_cents bigint, currency text,
    delivery text, kind text, zone text, event_id bigint, status text,
    fair_value_cents bigint, deal_score double precision, deal_reason text, model_version text
);
TRUNCATE _ripcity_stage;
"""
#: the score columns a scored batch stages (``storage.scores`` writes the same ones)
SCORE_COLUMNS = ("fair_value_cents", "deal_score", "deal_reason", "model_version")
STAGE_TARGET = f"_ripcity_stage ({_QCOLS}, event_id, status)"  # for copy_arrow
STAGE_SCORED_TARGET = f"_ripcity_stage ({_QCOLS}, event_id, status, {', '.join(SCORE_COLUMNS)})"

# Refused rows keep the whole observation as JSON, with the reason from the status column.
QUARANTINE = f"""
INSERT INTO quarantine (observed_at, marketplace, source, reason, raw, listing_id,
                        source_event_id)
SELECT x.observed_at, x.marketplace, 'ingest', x.status, row_to_json(s)::text, x.listing_id,
       x.source_event_id
FROM _ripcity_stage x
CROSS JOIN LATERAL (SELECT {", ".join(f'x.{c}' for c in _QCOLS.split(", "))}) s
ON CONFLICT DO NOTHING
"""

# Our event id for each (marketplace, source event id) of a batch. FOR SHARE holds the
# mapping until the batch commits: a merge or split that moves a source (an UPDATE of its
# event_id) waits for the batch, and a batch that starts after it reads the moved id, so no
# listing is ever written under an id that a merge just retired.
EVENTS = """
SELECT es.marketplace, es.source_event_id, es.event_id
FROM event_sources es
JOIN unnest(%b::text[], %b::text[]) AS k (marketplace, source_event_id)
  ON es.marketplace = k.marketplace AND es.source_event_id = k.source_event_id
FOR SHARE OF es
"""

# What classification needs of a listing's current state. Read for the batch's events (one
# index range scan per event, no probe per row); by key only when a listing moved events.
# The lateral join (``OFFSET 0`` stops the planner from flattening it) pins that plan:
# without statistics (a young table) the planner would rather scan every listing, or AND all
# of a marketplace's from the primary key into a bitmap (``marketplace || ''`` prevents it).
# Timestamps travel as ISO text, which Arrow parses exactly (``extract(epoch ...)`` is
# numeric and three times slower).
# The state of a batch's listings comes back as ONE text value of CSV lines (string_agg),
# not as COPY TO STDOUT: COPY sends a protocol message per row, and reading 100k messages
# through the driver cost more than everything else in a re-crawl. Keys are always quoted
# (so an empty id stays an empty string); a null becomes an empty field (``concat_ws``
# would skip it). The stored scores come last (``state.STORED_SCORES``, never cached).
_REASON_TAIL = reason_tail_sql("c.deal_reason").replace("%", "%%")  # run with parameters
_STATE_LINE = f"""string_agg(concat_ws(',',
    '"' || replace(c.marketplace, '"', '""') || '"', '"' || replace(c.listing_id, '"', '""') || '"',
    c.event_id, c.total_cents, c.price_cents, c.quantity, coalesce(c.prev_total_cents::text, ''),
    c.first_seen, CASE WHEN c.gone_at IS NULL THEN greatest(c.last_seen, s.complete_at)
                       ELSE c.last_seen END,
    c.last_changed, CASE WHEN c.gone_at IS NULL THEN 'f' ELSE 't' END,
    coalesce(c.fair_value_cents::text, ''), coalesce(c.deal_score::text, ''),
    coalesce('"' || replace(c.model_version, '"', '""') || '"', ''),
    coalesce('"' || replace({_REASON_TAIL}, '"', '""') || '"', ''), 't'
), E'\\n')"""
# ``last_seen`` as ``listing_last_seen()`` defines it (migration 0700)
_CRAWLS = """LEFT JOIN source_event_crawls s
    ON s.marketplace = c.marketplace AND s.source_event_id = c.source_event_id"""
STATE_BY_EVENT = f"""
SELECT {_STATE_LINE} FROM unnest(%b::bigint[]) AS e (id)
  CROSS JOIN LATERAL (SELECT * FROM listings_current
                      WHERE event_id = e.id AND marketplace || '' = ANY(%b::text[])
                      OFFSET 0) c
  {_CRAWLS}
"""
STATE_BY_KEY = f"""
SELECT {_STATE_LINE} FROM listings_current c {_CRAWLS}
 WHERE (c.marketplace, c.listing_id) IN (SELECT * FROM unnest(%b::text[], %b::text[]))
"""

_SNAPSHOT_COLS = (
    'observed_at, event_id, marketplace, listing_id, source_event_id, section, "row", seats, '
    "quantity, splits, price_cents, fees_cents, total_cents, currency, delivery, kind, zone"
)
INSERT_SNAPSHOTS = f"""
INSERT INTO listing_snapshots ({_SNAPSHOT_COLS})
SELECT {_SNAPSHOT_COLS} FROM _ripcity_stage WHERE status IN ('n', 'c')
"""
_CURRENT_COLS = _SNAPSHOT_COLS.removeprefix("observed_at, ")
# A new listing is written once, with its deal score when the batch was scored.
INSERT_NEW = f"""
INSERT INTO listings_current ({_CURRENT_COLS}, first_seen, last_seen, last_changed,
                              fair_value_cents, deal_score, deal_reason, model_version,
                              scored_at)
SELECT {_CURRENT_COLS}, observed_at, observed_at, observed_at,
       fair_value_cents, deal_score, deal_reason, model_version,
       CASE WHEN model_version IS NOT NULL THEN now() END
FROM _ripcity_stage WHERE status = 'n'
"""
ON_CONFLICT = "\nON CONFLICT DO NOTHING"

# Price changes and touches in one statement (one scan of the stage, one trigger firing): a
# touch keeps every column but ``last_seen`` / ``gone_at`` (unchanged values keep it HOT).
# A scored row (``model_version`` not null) also takes its score; ``scored_at`` moves only
# when the score changed (as ``storage.scores`` does).
_SAME_SCORE = """c.deal_score IS NOT DISTINCT FROM x.deal_score::real
    AND c.fair_value_cents IS NOT DISTINCT FROM x.fair_value_cents
    AND c.deal_reason IS NOT DISTINCT FROM x.deal_reason
    AND c.model_version IS NOT DISTINCT FROM x.model_version"""
UPDATE_CHANGED = f"""
UPDATE listings_current c SET
    event_id = CASE WHEN x.status = 'c' THEN x.event_id ELSE c.event_id END,
    source_event_id = CASE WHEN x.status = 'c' THEN x.source_event_id
                           ELSE c.source_event_id END,
    section = CASE WHEN x.status = 'c' THEN x.section ELSE c.section END,
    "row" = CASE WHEN x.status = 'c' THEN x."row" ELSE c."row" END,
    seats = CASE WHEN x.status = 'c' THEN x.seats ELSE c.seats END,
    quantity = CASE WHEN x.status = 'c' THEN x.quantity ELSE c.quantity END,
    splits = CASE WHEN x.status = 'c' THEN x.splits ELSE c.splits END,
    price_cents = CASE WHEN x.status = 'c' THEN x.price_cents ELSE c.price_cents END,
    fees_cents = CASE WHEN x.status = 'c' THEN x.fees_cents ELSE c.fees_cents END,
    total_cents = CASE WHEN x.status = 'c' THEN x.total_cents ELSE c.total_cents END,
    prev_total_cents = CASE WHEN x.status = 'c' THEN c.total_cents ELSE c.prev_total_cents END,
    currency = CASE WHEN x.status = 'c' THEN x.currency ELSE c.currency END,
    delivery = CASE WHEN x.status = 'c' THEN x.delivery ELSE c.delivery END,
    kind = CASE WHEN x.status = 'c' THEN x.kind ELSE c.kind END,
    zone = CASE WHEN x.status = 'c' THEN x.zone ELSE c.zone END,
    last_seen = x.observed_at,
    last_changed = CASE WHEN x.status = 'c' THEN x.observed_at ELSE c.last_changed END,
    gone_at = NULL,
    fair_value_cents = CASE WHEN x.model_version IS NULL THEN c.fair_value_cents
                            ELSE x.fair_value_cents END,
    deal_score = CASE WHEN x.model_version IS NULL THEN c.deal_score ELSE x.deal_score END,
    deal_reason = CASE WHEN x.model_version IS NULL THEN c.deal_reason ELSE x.deal_reason END,
    model_version = coalesce(x.model_version, c.model_version),
    scored_at = CASE WHEN x.model_version IS NULL OR ({_SAME_SCORE}) THEN c.scored_at
                     ELSE now() END
FROM _ripcity_stage x
WHERE x.status IN ('c', 's') AND c.marketplace = x.marketplace AND c.listing_id = x.listing_id
"""

# Listings missing from a complete crawl, staged with its time (status 'g'); only the crawled
# source events' listings can be gone, not their siblings' (one event listed twice on a
# marketplace, crawled by another shard). A gone listing keeps when it was last seen, since
# its source event's complete crawls no longer vouch for it.
MARK_GONE_STAGED = """
UPDATE listings_current c SET gone_at = x.observed_at, last_seen = listing_last_seen(c)
FROM _ripcity_stage x
WHERE x.status = 'g' AND c.marketplace = x.marketplace AND c.listing_id = x.listing_id
  AND c.gone_at IS NULL AND c.last_seen < x.observed_at AND c.source_event_id = ANY(%b::text[])
RETURNING c.marketplace, c.listing_id, c.event_id, c.total_cents, c.gone_at
"""

# After a complete crawl: every listing of these source events not marked gone was seen (by
# the crawl's earliest observation), in key order so concurrent writers lock alike.
CRAWLED = """
INSERT INTO source_event_crawls AS s (marketplace, source_event_id, complete_at)
SELECT k.marketplace, k.source_event_id, timestamptz 'epoch' + k.us * interval '1 microsecond'
FROM unnest(%b::text[], %b::text[], %b::bigint[]) AS k (marketplace, source_event_id, us)
JOIN event_sources es USING (marketplace, source_event_id) ORDER BY 1, 2
ON CONFLICT (marketplace, source_event_id)
DO UPDATE SET complete_at = greatest(s.complete_at, excluded.complete_at)
"""

# Bump the versions of the events a transaction writes (migration 0600), in key order so
# writers never deadlock. It is also the per-event lock: its row locks make any other writer
# of these events wait for this transaction's end, so each classifies against the other's
# committed state.
BUMP = """
INSERT INTO ingest_versions AS v (event_id, version)
SELECT e, 1 FROM unnest(%b::bigint[]) e ORDER BY e
ON CONFLICT (event_id) DO UPDATE SET version = v.version + 1
RETURNING v.event_id, v.version
"""
BUMP_SOURCE = """
INSERT INTO ingest_versions AS v (event_id, version)
SELECT es.event_id, 1 FROM event_sources es
 WHERE es.marketplace = %s AND es.source_event_id = %s ORDER BY 1
ON CONFLICT (event_id) DO UPDATE SET version = v.version + 1
"""

# ``mark_gone``: one source event's listings that its complete crawl did not see.
MARK_GONE = """
UPDATE listings_current c SET gone_at = %(at)s, last_seen = listing_last_seen(c)
FROM event_sources es
WHERE es.marketplace = %(mk)s AND es.source_event_id = %(ev)s
  AND c.event_id = es.event_id AND c.marketplace = es.marketplace
  AND c.source_event_id = es.source_event_id
  AND c.gone_at IS NULL AND listing_last_seen(c) < %(at)s
  AND NOT (c.listing_id = ANY(%(seen)s))
RETURNING c.marketplace, c.listing_id, c.event_id, c.total_cents, c.gone_at
"""

# Marketplace price stats, for known source events only (the caller quarantines the rest).
STATS = """
INSERT INTO event_price_stats (observed_at, event_id, marketplace, source_event_id,
    lowest_cents, lowest_base_cents, median_cents, average_cents, highest_cents,
    listing_count, currency)
SELECT %(observed_at)s, es.event_id, es.marketplace, es.source_event_id, %(lowest_cents)s,
    %(lowest_base_cents)s, %(median_cents)s, %(average_cents)s, %(highest_cents)s,
    %(listing_count)s, %(currency)s
FROM event_sources es WHERE es.marketplace = %(marketplace)s
    AND es.source_event_id = %(source_event_id)s
ON CONFLICT (event_id, marketplace, observed_at) DO UPDATE SET
    lowest_cents = EXCLUDED.lowest_cents, lowest_base_cents = EXCLUDED.lowest_base_cents,
    median_cents = EXCLUDED.median_cents, average_cents = EXCLUDED.average_cents,
    highest_cents = EXCLUDED.highest_cents, listing_count = EXCLUDED.listing_count,
    currency = EXCLUDED.currency
"""

# Parser rejects and price stats of unknown events, kept for inspection.
REJECT = """
INSERT INTO quarantine (observed_at, marketplace, source, reason, raw)
VALUES (%(observed_at)s, %(marketplace)s, %(source)s, %(reason)s, %(raw)s)
ON CONFLICT DO NOTHING
"""

