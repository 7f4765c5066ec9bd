"""Mapping of listing rows to the public ``Listing`` struct (shared by listings and deals)."""

from __future__ import annotations

from typing import Any

from api.schemas.events import Listing


def _splits(raw: str | None) -> list[int] | None:
    if not raw:
        return None
    out = [int(p) for p in raw.replace(" ", "").split(",") if p.isdigit()]
    return out or None


def listing_of(row: dict[str, Any]) -> Listing:
    return Listing(
        marketplace=row["marketplace"], listing_id=row["listing_id"], event_id=row["event_id"],
        section=row["section"], row=row["row"], seats=row["seats"], quantity=row["quantity"],
        splits=_splits(row["splits"]), price_cents=row["price_cents"],
        fees_cents=row["fees_cents"], total_cents=row["total_cents"], currency=row["currency"],
        delivery=row["delivery"], kind=row["kind"], zone=row["zone"],
        deal_score=row["deal_score"], deal_rank=row["deal_rank"],
        deal_reason=row["deal_reason"], fair_value_cents=row["fair_value_cents"],
        first_seen=row["first_seen"], last_changed=row["last_changed"], buy_url=row["buy_url"],
        history_url=(f"/api/v1/events/{row['event_id']}/listings/{row['marketplace']}/"
                     f"{row['listing_id']}/history"))
