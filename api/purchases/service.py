"""The claim record: a purchase and its evidence, for the JSON download and the printable
page alike."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from urllib.parse import quote

import msgspec

from api.purchases.schemas import ClaimRecord, EvidenceItem, Purchase
from storage import purchases as store

V1 = "/api/v1"


def purchase_out(row: store.Purchase) -> Purchase:
    return msgspec.convert(
        {**dataclasses.asdict(row), "evidence_url": f"{V1}/purchases/{row.id}/evidence.json",
         "claim_page_url": f"/purchases/{row.id}/claim"}, Purchase)


def claim_record(row: store.Purchase, evidence: list[store.Evidence]) -> ClaimRecord:
    items = [EvidenceItem(
        marketplace=e.marketplace, listing_id=e.listing_id, section=e.section, row=e.row,
        quantity=e.quantity, total_cents=e.total_cents, observed_at=e.observed_at,
        recorded_at=e.recorded_at,
        history_url=(f"{V1}/events/{row.event_id}/listings/{quote(e.marketplace, safe='')}/"
                     f"{quote(e.listing_id, safe='')}/history")) for e in evidence]
    low = min((e.total_cents for e in evidence), default=None)
    return ClaimRecord(
        purchase=purchase_out(row),
        difference_cents=None if low is None else row.price_paid_cents - low,
        evidence=items, generated_at=datetime.now(UTC),
        event_history_url=f"{V1}/events/{row.event_id}/history")
