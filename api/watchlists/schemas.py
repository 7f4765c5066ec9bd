"""What the watchlist endpoints accept and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from api.lib.fields import Id, Name


class WatchlistIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["event", "performer", "venue"]
    event_id: Id | None = None
    performer: Name | None = None
    venue_id: Id | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class WatchlistPatch(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class Watchlist(msgspec.Struct):
    id: int
    kind: str
    event_id: int | None
    performer: str | None
    venue_id: int | None
    note: str | None
    created_at: datetime


class WatchlistPage(msgspec.Struct):
    items: list[Watchlist]
    next: str | None
    next_cursor: str | None
