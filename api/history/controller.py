"""Price history: per event or section, bucketed, per marketplace or merged; per listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.params import Parameter, PathParameter

from api.history.schemas import HistoryPoint, ListingHistory, ListingPoint, PriceHistory
from api.lib.cache import event_tag
from api.lib.dates import bounded
from api.lib.deps import ReadsDep, RuntimeDep
from api.lib.errors import InvalidInput, NotFound
from api.lib.params import EventId, Marketplace, MarketplaceParam
from storage import history as store
from storage.events import require_event

Bucket = Literal["5m", "15m", "30m", "1h", "3h", "6h", "12h", "1d"]
BUCKETS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5), "15m": timedelta(minutes=15), "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1), "3h": timedelta(hours=3), "6h": timedelta(hours=6),
    "12h": timedelta(hours=12), "1d": timedelta(days=1),
}
MAX_POINTS = 2000
DEFAULT_POINTS = 48


def _point(p: store.PricePoint) -> HistoryPoint:
    return HistoryPoint(bucket_start=p.bucket, marketplace=p.marketplace, min_cents=p.min_cents,
                        median_cents=p.median_cents, max_cents=p.max_cents,
                        listing_count=p.listings)


class HistoryController(Controller):
    path = "/events/{event_id:int}"
    tags = ["price history"]

    @get("/history", summary="Bucketed all-in price history of an event or a section")
    async def event_history(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, reads: ReadsDep,
        event_id: EventId,
        bucket: Annotated[Bucket, Parameter(description="bucket width")] = "1h",
        since: Annotated[datetime | None, Parameter(
            description="default: 48 buckets before until")] = None,
        until: Annotated[datetime | None, Parameter(description="default: now")] = None,
        section: Annotated[str | None, Parameter(min_length=1, max_length=40)] = None,
        marketplace: MarketplaceParam = None,
        merged: Annotated[bool, Parameter(
            description="one series across marketplaces instead of one per marketplace")] = False,
    ) -> Response[PriceHistory]:
        """Min / median / max all-in price per ticket and the number of listings alive in each
        bucket; a listing counts at its latest price in every bucket it was listed in."""
        width = BUCKETS[bucket]
        end = bounded(until, "until") or datetime.now(UTC)
        start = bounded(since, "since") or bounded(end - DEFAULT_POINTS * width, "since")
        assert start is not None
        if start >= end:
            raise InvalidInput("since must be earlier than until")
        if (end - start) / width > MAX_POINTS:
            raise InvalidInput(f"since..until spans more than {MAX_POINTS} buckets of {bucket}: "
                               "use a wider bucket or a shorter range")
        if until is None:  # "up to now": round so the cache key repeats within a minute
            end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)

        async def compute() -> PriceHistory:
            async with reads.connection() as conn:
                await require_event(conn, event_id)
                points = await store.event_history(conn, event_id, width, start, end,
                                                   section=section, marketplace=marketplace,
                                                   merged=merged)
            return PriceHistory(event_id=event_id, bucket=bucket, section=section,
                                merged=merged, since=start, until=end,
                                points=[_point(p) for p in points])

        assert runtime.cache is not None
        return await runtime.cache.respond(request, compute, tags=(event_tag(event_id),),
                                           ttl=120, max_age=30)

    @get("/listings/{marketplace:str}/{listing_id:str}/history",
         summary="Every price one listing has had")
    async def listing_history(
        self, runtime: RuntimeDep, reads: ReadsDep, event_id: EventId,
        marketplace: Annotated[Marketplace, PathParameter(description="marketplace")],
        listing_id: Annotated[str, Parameter(min_length=1, max_length=200)],
    ) -> ListingHistory:
        async with reads.connection() as conn:
            rows = await store.listing_history(conn, event_id, marketplace, listing_id)
        if not rows:
            raise NotFound(f"No history for listing {listing_id!r} of {marketplace} at event "
                           f"{event_id}: take ids from GET /api/v1/events/{event_id}/listings.")
        return ListingHistory(
            marketplace=marketplace, listing_id=listing_id, event_id=event_id,
            points=[ListingPoint(observed_at=r.observed_at, price_cents=r.price_cents,
                                 fees_cents=r.fees_cents, total_cents=r.total_cents,
                                 quantity=r.quantity) for r in rows])
