"""Purchases under price protection: record one (with the alert rule that watches it), the
claim windows marketplaces publish, and the evidence the matcher keeps.

A purchase is watched until ``claim_ends_at``: its own ``claim_window_seconds`` when given,
else its marketplace's row in ``claim_windows``; a marketplace with no published window
needs the purchase's own. The matcher (``storage.alerts._match_sql.PROTECT_HITS``) writes
``purchase_evidence`` in the same transaction as the alert.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row
from storage.errors import InvalidValue, NotFound

if TYPE_CHECKING:
    from psycopg import AsyncConnection

_WINDOWS = """SELECT marketplace, window_seconds, refund_percent::float8 AS refund_percent,
    policy, source_url FROM claim_windows ORDER BY marketplace"""
_WINDOW = "SELECT window_seconds FROM claim_windows WHERE marketplace = %s"
_EVENT = "SELECT 1 FROM events WHERE id = %s"
_RULE = """INSERT INTO alert_rules (user_id, event_id, kind, threshold_cents, section,
                                    min_quantity, channels)
VALUES (%s, %s, 'price_protection', %s, %s, %s, %s) RETURNING id"""
_COLS = """p.id, p.event_id, e.name AS event_name, e.starts_at, p.marketplace, p.section,
    p."row", p.quantity, p.price_paid_cents, p.purchased_at, p.claim_ends_at,
    p.claim_ends_at > now() AS watching, r.channels, p.rule_id, p.created_at,
    (SELECT count(*) FROM purchase_evidence x WHERE x.purchase_id = p.id) AS evidence_count,
    (SELECT min(x.total_cents) FROM purchase_evidence x WHERE x.purchase_id = p.id)
        AS lowest_seen_cents"""
_FROM = "FROM purchases p JOIN events e ON e.id = p.event_id JOIN alert_rules r ON r.id = p.rule_id"
_INSERT = """INSERT INTO purchases (user_id, event_id, rule_id, marketplace, section, "row",
    quantity, price_paid_cents, purchased_at, claim_ends_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::timestamptz + make_interval(secs => %s))
RETURNING id"""
_LIST = f"SELECT {_COLS} {_FROM} WHERE p.user_id = %s ORDER BY p.id DESC"
_GET = f"SELECT {_COLS} {_FROM} WHERE p.id = %s AND p.user_id = %s"
_EVIDENCE = """SELECT marketplace, listing_id, section, "row", quantity, total_cents,
    observed_at, recorded_at FROM purchase_evidence WHERE purchase_id = %s
ORDER BY total_cents, observed_at"""
_DELETE = """DELETE FROM alert_rules WHERE id = (SELECT rule_id FROM purchases
             WHERE id = %s AND user_id = %s) RETURNING id"""


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimWindow:
    marketplace: str
    window_seconds: int | None  # None: no published price-drop refund
    refund_percent: float | None
    policy: str
    source_url: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Purchase:
    id: int
    event_id: int
    event_name: str
    starts_at: datetime | None
    marketplace: str
    section: str
    row: str | None
    quantity: int
    price_paid_cents: int
    purchased_at: datetime
    claim_ends_at: datetime
    watching: bool  # the claim window is still open
    channels: list[str]
    rule_id: int
    created_at: datetime
    evidence_count: int
    lowest_seen_cents: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    marketplace: str
    listing_id: str
    section: str | None
    row: str | None
    quantity: int | None
    total_cents: int
    observed_at: datetime  # the snapshot (listing_snapshots.observed_at) that showed it
    recorded_at: datetime


def _missing(pid: int) -> NotFound:
    return NotFound(f"You have no purchase with id {pid}; list yours with "
                    "GET /api/v1/purchases.")


async def claim_windows(conn: AsyncConnection[Any]) -> list[ClaimWindow]:
    cur = conn.cursor(row_factory=record_row(ClaimWindow))
    await cur.execute(_WINDOWS)
    return await cur.fetchall()


async def create(conn: AsyncConnection[Any], user_id: int, *, event_id: int,
                 marketplace: str, section: str, row: str | None, quantity: int,
                 price_paid_cents: int, purchased_at: datetime,
                 claim_window_seconds: int | None, channels: list[str]) -> Purchase:
    """Record a purchase and the rule that watches it, in the caller's transaction."""
    if await (await conn.execute(_EVENT, (event_id,))).fetchone() is None:
        raise InvalidValue("event_id does not exist: take ids from GET /api/v1/events.",
                           errors=[{"field": "event_id", "message": "no such id"}])
    window = claim_window_seconds
    if window is None:
        found = await (await conn.execute(_WINDOW, (marketplace,))).fetchone()
        window = found[0] if found else None
        if window is None:
            raise InvalidValue(
                f"{marketplace} publishes no price-drop refund window; give "
                "claim_window_hours to watch this purchase anyway (see GET "
                "/api/v1/claim-windows)",
                errors=[{"field": "claim_window_hours", "message": "required for this "
                         "marketplace"}])
    rule = await (await conn.execute(_RULE, (user_id, event_id, price_paid_cents, section,
                                             quantity, channels))).fetchone()
    assert rule is not None
    made = await (await conn.execute(_INSERT, (
        user_id, event_id, rule[0], marketplace, section.strip(), row.strip() if row else None,
        quantity, price_paid_cents, purchased_at, purchased_at, window))).fetchone()
    assert made is not None
    return await get(conn, user_id, int(made[0]))


async def list_purchases(conn: AsyncConnection[Any], user_id: int) -> list[Purchase]:
    cur = conn.cursor(row_factory=record_row(Purchase))
    await cur.execute(_LIST, (user_id,))
    return await cur.fetchall()


async def get(conn: AsyncConnection[Any], user_id: int, pid: int) -> Purchase:
    cur = conn.cursor(row_factory=record_row(Purchase))
    await cur.execute(_GET, (pid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing(pid)
    return row


async def evidence(conn: AsyncConnection[Any], user_id: int, pid: int
                   ) -> tuple[Purchase, list[Evidence]]:
    purchase = await get(conn, user_id, pid)
    cur = conn.cursor(row_factory=record_row(Evidence))
    await cur.execute(_EVIDENCE, (pid,))
    return purchase, await cur.fetchall()


async def delete(conn: AsyncConnection[Any], user_id: int, pid: int) -> None:
    """Forget a purchase, its rule and its evidence."""
    if await (await conn.execute(_DELETE, (pid, user_id))).fetchone() is None:
        raise _missing(pid)
