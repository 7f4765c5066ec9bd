"""StubHub under ``/stubhub`` (the legacy developer API) and ``/stubhub/web`` (the website,
whose event pages need a browser).

``routes`` maps API URLs to handlers and renders StubHub's error bodies; ``objects`` builds
the JSON objects from the world (catalog events, inventory listings and stats, venue
configurations); ``fastjson`` renders a page of inventory straight from the listing
columns; ``web`` serves the event pages and the JSON their script reads.
"""
