"""Events: canonical events written from marketplace records, and the reads that show them.

- ``upsert``: marketplace ``EventRecord`` s -> ``events`` + ``event_sources``, decided by the
  one matcher (``identity``: pure scoring) with venue identity (``venues``);
- ``merge``: merging two events after the fact and splitting a wrong merge, old ids redirect;
- ``assignments``: which event and venue each marketplace id belongs to, the decisions kept;
- ``filters``: what an event search asks for, as SQL conditions (shared with deals);
- ``reads``: search, one event with its prices, search-card extras, watched events;
- ``summary``: the per-event search summary kept current after ingest.
"""

from __future__ import annotations

from storage.events.filters import EventFilter, event_conditions
from storage.events.merge import merge_into, resolve_event_id, split_event
from storage.events.reads import (
    CardDeal,
    CardExtras,
    EventBase,
    EventDetail,
    EventRow,
    MarketplaceGetIn,
    SourceLink,
    buy_url,
    card_extras,
    get_event,
    require_event,
    search_events,
    source_ids,
    watched_event_ids,
)
from storage.events.summary import refresh_summaries
from storage.events.upsert import touch_sources, upsert_events

__all__ = [
    "CardDeal",
    "CardExtras",
    "EventBase",
    "EventDetail",
    "EventFilter",
    "EventRow",
    "MarketplaceGetIn",
    "SourceLink",
    "buy_url",
    "card_extras",
    "event_conditions",
    "get_event",
    "merge_into",
    "refresh_summaries",
    "require_event",
    "resolve_event_id",
    "search_events",
    "source_ids",
    "split_event",
    "touch_sources",
    "upsert_events",
    "watched_event_ids",
]
