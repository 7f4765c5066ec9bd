"""``GET /api/v1/recommendations``: events ranked for the caller, a reason each."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from api.lib.deps import PrincipalDep, RuntimeDep
from api.recommendations.schemas import Recommendation, RecommendationPage
from api.recommendations.service import recommended
from storage.recommendations import PickRow


def to_schema(row: PickRow) -> Recommendation:
    return Recommendation(event_id=row.event_id, name=row.name, starts_at=row.starts_at,
                          venue=row.venue_name, city=row.venue_city, category=row.category,
                          get_in_cents=row.get_in_cents, best_deal_score=row.best_deal_score,
                          reason=row.reason, url=f"/api/v1/events/{row.event_id}")


class RecommendationController(Controller):
    path = "/recommendations"
    tags = ["recommendations"]

    @get("/", summary="Events recommended for you, with why")
    async def list_recommendations(
        self, runtime: RuntimeDep, principal: PrincipalDep,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 10,
        city: Annotated[str | None, Parameter(
            min_length=1, max_length=80,
            description="for callers without history: popular events of this city")] = None,
    ) -> RecommendationPage:
        """Ranked from your watchlists, alert rules, saved searches, events you opened and
        buy links you followed (refreshed by the engine every 15 minutes). Without history
        (or without an account): the most followed upcoming events of ``city`` (default:
        the city of your events, else the busiest)."""
        async with runtime.pool.connection() as conn:
            rows, personal, where = await recommended(
                conn, principal.user_id if principal else None, limit, city)
        return RecommendationPage(items=[to_schema(r) for r in rows], personalized=personal,
                                  city=where)
