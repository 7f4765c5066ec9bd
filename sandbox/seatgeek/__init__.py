"""SeatGeek under ``/seatgeek``: Platform v2 events, venues, performers, and our seat-level
``/2/events/{id}/listings`` (SeatGeek publishes no public listing format; see the
``sandbox`` package docstring).

``routes`` maps URLs to handlers and renders SeatGeek's error bodies; ``objects`` builds
the JSON objects from the world (events with stats, venues, performers, listings);
``fastjson`` renders a page of listings straight from the listing columns.
"""
