"""Eventbrite under ``/eventbrite``: v3 organizations, organization events (continuation
pagination), events (``expand=venue``), venues and ticket classes.

``routes`` maps URLs to handlers and renders Eventbrite's error bodies; ``objects`` builds
the JSON objects from the world. Eventbrite pages are small (ticket classes, not seats), so
there is no fast path.
"""
