"""Pages of the price model: "What is my ticket worth?" for one event, and the public track
record of the buy-or-wait forecasts. They read what the REST endpoints read
(``api.valuation.service``, ``storage.track_record``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Template

from api.lib.replicas import reads_of
from api.valuation.service import fair_price
from api.web.common import page
from storage import events as events_store
from storage import listings as listings_store
from storage.errors import NotFound
from storage.track_record import track_record


class ValuationPages(Controller):
    @get("/events/{event_id:int}/worth", name="web:worth")
    async def worth(self, request: Request[Any, Any, Any],
                    event_id: Annotated[int, Parameter(ge=1, le=2**62)],
                    section: Annotated[str | None, Parameter(max_length=40)] = None,
                    row: Annotated[str | None, Parameter(max_length=12)] = None,
                    quantity: Annotated[int, Parameter(ge=1, le=50)] = 2) -> Template:
        """The seller tool: the fair price of any seat, its interval, what moved it and the
        listings it leaned on."""
        section = (section or "").strip() or None
        row = (row or "").strip() or None
        result, problem = None, None
        async with reads_of(request).connection() as conn:
            ev = await events_store.get_event(conn, event_id)
            sections = await listings_store.section_prices(conn, event_id)
            if section:
                try:
                    result = await fair_price(conn, event_id, section, row, quantity)
                except NotFound as err:
                    problem = str(err)
        return page(request, "worth.html", title=f"What is my ticket worth? {ev.name}",
                    ev=ev, sections=sections, section=section or "", row=row or "",
                    quantity=quantity, result=result, problem=problem)

    @get("/track-record", name="web:track-record")
    async def track_record_page(self, request: Request[Any, Any, Any],
                                days: Annotated[int, Parameter(ge=1, le=3650)] = 90
                                ) -> Template:
        """How often our buy-or-wait advice was right, against the naive answers."""
        async with reads_of(request).connection() as conn:
            tr = await track_record(conn, datetime.now(UTC) - timedelta(days=days))
        return page(request, "track_record.html", title="Our forecasts' track record",
                    tr=tr, days=days)
