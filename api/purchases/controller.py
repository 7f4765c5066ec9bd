"""The caller's purchases under price protection, their evidence, and the claim windows."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.alerts.rules import check_common
from api.lib.deps import RuntimeDep, UserDep
from api.purchases.schemas import ClaimRecord, ClaimWindow, Purchase, PurchaseIn
from api.purchases.service import claim_record, purchase_out
from api.watchlists.service import reserve_slot
from storage import purchases as store

PurchaseId = Annotated[int, Parameter(ge=1, le=2**62, description="purchase id")]


class PurchaseController(Controller):
    path = "/purchases"
    tags = ["price protection"]

    @get("/", summary="Your purchases under price protection")
    async def list_purchases(self, user: UserDep, runtime: RuntimeDep) -> list[Purchase]:
        async with runtime.pool.connection() as conn:
            return [purchase_out(r) for r in await store.list_purchases(conn, user.user_id)]

    @post("/", summary="Record a purchase to watch for a cheaper same-or-better listing")
    async def create(self, data: JSONBody[PurchaseIn], user: UserDep,
                     runtime: RuntimeDep) -> Purchase:
        """While the claim window is open (the marketplace's, GET /api/v1/claim-windows, or
        `claim_window_hours`), an alert of kind `price_protection` fires when the same or
        better seats are listed below the price paid, and the listing, its price and the
        snapshot time are kept as evidence. Counts as one alert rule of the plan."""
        fields = {"channels": list(data.channels)}
        check_common(fields, user)
        async with runtime.pool.connection() as conn, conn.transaction():
            await reserve_slot(conn, user, "alert_rules")
            row = await store.create(
                conn, user.user_id, event_id=data.event_id, marketplace=data.marketplace,
                section=data.section, row=data.row, quantity=data.quantity,
                price_paid_cents=data.price_paid_cents, purchased_at=data.purchased_at,
                claim_window_seconds=(None if data.claim_window_hours is None
                                      else round(data.claim_window_hours * 3600)),
                channels=fields["channels"])
        return purchase_out(row)

    @get("/{purchase_id:int}", summary="One purchase")
    async def get_purchase(self, purchase_id: PurchaseId, user: UserDep,
                           runtime: RuntimeDep) -> Purchase:
        async with runtime.pool.connection() as conn:
            return purchase_out(await store.get(conn, user.user_id, purchase_id))

    @get("/{purchase_id:int}/evidence.json", summary="The claim record to download")
    async def evidence(self, purchase_id: PurchaseId, user: UserDep,
                       runtime: RuntimeDep) -> Response[ClaimRecord]:
        """The purchase, every cheaper same-or-better listing seen in the window (listing
        id, all-in price, the snapshot time, a link to its price history) and the
        difference; attach it to a claim. The printable page is /purchases/{id}/claim."""
        async with runtime.pool.connection() as conn:
            row, items = await store.evidence(conn, user.user_id, purchase_id)
        return Response(claim_record(row, items), headers={
            "Content-Disposition": f'attachment; filename="price-claim-{purchase_id}.json"'})

    @delete("/{purchase_id:int}", summary="Forget a purchase", status_code=HTTP_204_NO_CONTENT)
    async def remove(self, purchase_id: PurchaseId, user: UserDep,
                     runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await store.delete(conn, user.user_id, purchase_id)


class ClaimWindowController(Controller):
    path = "/claim-windows"
    tags = ["price protection"]

    @get("/", summary="Price-drop claim windows per marketplace, with their sources")
    async def list_windows(self, runtime: RuntimeDep) -> list[ClaimWindow]:
        async with runtime.pool.connection() as conn:
            return [msgspec.convert(w, ClaimWindow, from_attributes=True)
                    for w in await store.claim_windows(conn)]
