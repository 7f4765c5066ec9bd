"""Query and path parameters shared by several controllers, typed and documented once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar.params import Parameter

EventId = Annotated[int, Parameter(ge=1, le=2**62, description="event id")]
Limit = Annotated[int, Parameter(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=500,
                                         description="`next_cursor` of the previous page")]
Query = Annotated[str | None, Parameter(
    min_length=1, max_length=100, description="text in event name, performers, venue or city")]
StartsAfter = Annotated[datetime | None, Parameter(
    description="events starting at or after (ISO 8601)")]
StartsBefore = Annotated[datetime | None, Parameter(
    description="events starting before (ISO 8601)")]
Category = Annotated[str | None, Parameter(min_length=1, max_length=40,
                                           description="basketball, concert, comedy, ...")]
City = Annotated[str | None, Parameter(min_length=1, max_length=80)]
Cents = Annotated[int | None, Parameter(ge=0, le=100_000_000,
                                        description="integer cents, all-in per ticket")]
Marketplace = Literal["ticketmaster", "seatgeek", "eventbrite", "stubhub"]
MarketplaceParam = Annotated[Marketplace | None, Parameter(description="only this marketplace")]
