"""How fresh an event's prices are, per marketplace: the last complete crawl of it.

A complete crawl (every page of the source event answered, ``source_event_crawls``) is the
only thing that proves a marketplace's prices are current; a crawl that fails or is blocked
(403 / 429 on every request) leaves ``complete_at`` where it was, marks nothing gone and so
revives nothing either. ``stale`` says the prices are older than ``stale_after_s``;
``marketplace_failing`` says the marketplace has completed no crawl of any event within that
time (blocking us, or down). Time is measured against the later of the database's clock and
the newest complete crawl anywhere, so a simulated clock ahead of real time works too.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row

if TYPE_CHECKING:
    from psycopg import AsyncConnection

_FRESHNESS = """
WITH ref AS (
    SELECT greatest(now(), (SELECT max(complete_at) FROM source_event_crawls)) AS at
), src AS (
    SELECT es.marketplace, max(c.complete_at) AS fresh_as_of
    FROM event_sources es
    LEFT JOIN source_event_crawls c ON c.marketplace = es.marketplace
                                   AND c.source_event_id = es.source_event_id
    WHERE es.event_id = %(event)s GROUP BY es.marketplace
)
SELECT src.marketplace, src.fresh_as_of,
       extract(epoch FROM ref.at - src.fresh_as_of)::float8 AS age_seconds,
       src.fresh_as_of IS NULL
           OR ref.at - src.fresh_as_of > make_interval(secs => %(stale)s) AS stale,
       coalesce((SELECT max(c.complete_at) FROM source_event_crawls c
                 WHERE c.marketplace = src.marketplace), '-infinity')
           < ref.at - make_interval(secs => %(stale)s) AS marketplace_failing
FROM src, ref ORDER BY src.marketplace
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Freshness:
    marketplace: str
    fresh_as_of: datetime | None  # None: never crawled completely
    age_seconds: float | None
    stale: bool
    marketplace_failing: bool


async def event_freshness(conn: AsyncConnection[Any], event_id: int,
                          stale_after_s: float) -> list[Freshness]:
    """One row per marketplace the event is listed on."""
    cur = conn.cursor(row_factory=record_row(Freshness))
    await cur.execute(_FRESHNESS, {"event": event_id, "stale": stale_after_s})
    return await cur.fetchall()
