"""Fair price of any seat of an event, one at a time or in a batch."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, Parameter

from api.lib.deps import RuntimeDep
from api.lib.params import EventId
from api.valuation.schemas import (
    FairPrice,
    FairPriceBatch,
    FairPriceBatchItem,
    FairPriceBatchResult,
)
from api.valuation.service import fair_price
from storage.errors import NotFound as StorageNotFound
from storage.events import require_event


class FairPriceController(Controller):
    path = "/events/{event_id:int}/fair-price"
    tags = ["fair price"]

    @get("/", summary="What a seat is worth: fair all-in price, interval, comparables")
    async def one(
        self, runtime: RuntimeDep, event_id: EventId,
        section: Annotated[str, Parameter(min_length=1, max_length=40,
                                          description="section as printed on the ticket")],
        row: Annotated[str | None, Parameter(max_length=12, description="row; default: "
                                             "the section's typical row")] = None,
        quantity: Annotated[int, Parameter(ge=1, le=99, description="tickets together")] = 2,
    ) -> FairPrice:
        """The fair all-in price per ticket of any seat (listed or not), the calibrated
        interval, the factors that moved it and the listings it leans on (live ones and
        recently gone ones, most likely sold), with the model version."""
        async with runtime.pool.connection() as conn:
            await require_event(conn, event_id)
            return await fair_price(conn, event_id, section, row, quantity)

    @post("/batch", summary="Fair prices of up to 100 seats of one event", status_code=200)
    async def batch(self, runtime: RuntimeDep, event_id: EventId,
                    data: JSONBody[FairPriceBatch]) -> FairPriceBatchResult:
        """One answer per seat, in order; a seat the model cannot value carries its error
        and the others are still answered."""
        items = []
        async with runtime.pool.connection() as conn:
            await require_event(conn, event_id)
            for seat in data.seats:
                try:
                    fp = await fair_price(conn, event_id, seat.section, seat.row,
                                          seat.quantity)
                    items.append(FairPriceBatchItem(seat=seat, fair_price=fp))
                except StorageNotFound as err:
                    items.append(FairPriceBatchItem(seat=seat, error=str(err)))
        return FairPriceBatchResult(items=items)
