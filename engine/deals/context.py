"""What the scorer needs to know besides the listings: events, identities and price history.

The engine (or a test, or the benchmark) builds one ``ScoringContext`` per scoring round
and passes it with every batch; everything in it is small (one row per event or per
event-section), so it is cheap to ship to Ray actors. The event and source-id tables have
storage's schemas (``storage.deals``), re-exported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from storage.deals import EVENT_CONTEXT_SCHEMA, SOURCE_MAP_SCHEMA

__all__ = ["EVENT_CONTEXT_SCHEMA", "SOURCE_MAP_SCHEMA", "ScoringContext"]


@dataclasses.dataclass(slots=True)
class ScoringContext:
    """Side information for scoring; every part is optional.

    Attributes:
        events: rows of ``EVENT_CONTEXT_SCHEMA``; without it venues are unknown ("?") and
            days-to-event is NaN, and the model falls back to its pooled effects.
        source_map: ``(keys, event_keys)``: ``"marketplace:source_event_id"`` strings and
            the event key each resolves to (see ``from_sources``).
        section_lows: daily lowest all-in price per (event, section), from
            ``engine.deals.history.section_daily_lows``; enables "lowest in N days".
    """

    events: pa.Table | None = None
    source_map: tuple[pa.Array, pa.Array] | None = None
    section_lows: pa.Table | None = None
    #: event key -> (venue, start in epoch seconds), made on first use (a context serves
    #: many batches; converting every event's columns per batch was a writer's cost)
    _index: dict[str, tuple[str, float]] | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        events: pa.Table | Iterable[Mapping[str, Any]] | None = None,
        sources: pa.Table | Iterable[Mapping[str, Any]] | None = None,
        section_lows: pa.Table | None = None,
    ) -> ScoringContext:
        """A context from event rows and source-id rows (tables or lists of dicts)."""
        ev = None
        if events is not None:
            ev = events if isinstance(events, pa.Table) else pa.Table.from_pylist(
                list(events), schema=EVENT_CONTEXT_SCHEMA)
        smap = None
        if sources is not None:
            src = sources if isinstance(sources, pa.Table) else pa.Table.from_pylist(
                list(sources), schema=SOURCE_MAP_SCHEMA)
            keys = [f"{m}:{s}" for m, s in zip(src.column("marketplace").to_pylist(),
                                                src.column("source_event_id").to_pylist(),
                                                strict=True)]
            smap = (pa.array(keys, pa.string()),
                    src.column("event_key").combine_chunks().cast(pa.string()))
        return cls(events=ev, source_map=smap, section_lows=section_lows)

    def event_info(self, keys: list[str]) -> tuple[list[str], np.ndarray]:
        """Venue and start time (epoch seconds, NaN unknown) of each event key."""
        venues = ["?"] * len(keys)
        starts = np.full(len(keys), np.nan)
        if self.events is None or self.events.num_rows == 0:
            return venues, starts
        if self._index is None:
            self._index = self._event_index()
        for j, key in enumerate(keys):
            found = self._index.get(key)
            if found is not None:
                venues[j], starts[j] = found
        return venues, starts

    def _event_index(self) -> dict[str, tuple[str, float]]:
        assert self.events is not None
        n, names = self.events.num_rows, self.events.schema.names
        ev_venues = self.events.column("venue").to_pylist() if "venue" in names else [None] * n
        ev_starts: list[datetime | None] = self.events.column("starts_at").to_pylist() \
            if "starts_at" in names else [None] * n
        return {key: (venue or "?", start.timestamp() if start is not None else np.nan)
                for key, venue, start in zip(self.events.column("event_key").to_pylist(),
                                             ev_venues, ev_starts, strict=True)}
