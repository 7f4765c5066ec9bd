"""The sandbox: one local HTTP server that serves Ticketmaster, SeatGeek, Eventbrite and
StubHub in their real wire formats, from one deterministic model whose truth is known.

It is the data source of ``make run`` without keys, of the crawler and engine tests and of
the benchmarks. Start it with ``ripcity sandbox serve`` (or ``python -m
sandbox.server``), or from Python with ``start_sandbox(...)`` (a subprocess on a
free port) / ``create_app(SandboxConfig(...))`` (the raw ASGI app).

The world
=========
Portland venues with seat maps: Moda Center (basketball: COURTSIDE 1-4, lower 101-124 in
"Lower Center"/"Lower Level", CLUB 201-212, upper 301-329; concert: FLOOR A-F instead of
courtside, stage-side 101/102/123/124 removed), Providence Park (101-121, deck 201-215,
"TIMBERS ARMY" GA), Veterans Memorial Coliseum (FLOOR GA, 1-32), Keller Auditorium and
Arlene Schnitzer Concert Hall (ORCHESTRA, ORCHESTRA LEFT/RIGHT, MEZZANINE, BALCONY), and
GA clubs (Crystal Ballroom, Roseland Theater, Doug Fir Lounge, Helium Comedy Club).
Numbered sections have numeric rows ("1".."25") or lettered rows ("A".."Z" without I/O);
GA sections have no rows and no seat numbers.

Events (``--events N``): ~40 % (at most 41) Trail Blazers home games against every NBA
opponent in turn, the rest concerts, club shows, comedy, theatre and Timbers/Thorns
soccer, all in the future of the simulated clock, which starts at 2026-10-01T12:00:00Z.
Each event has a popularity (opponent star power, weekend, act), a demand drift and a
status: onsale, soldout (no box-office seats left, resale only), postponed (still sells)
or cancelled (no listings). Who sells what:

=========================  =====================================================
basketball, soccer,        Ticketmaster (resale + box-office "standard" seats,
arena concerts, theatre    Commerce offers per price zone), SeatGeek, StubHub
club shows, comedy         Eventbrite (ticket classes = primary tiers), SeatGeek,
                           StubHub
=========================  =====================================================

Listings: every event has ``n_slots`` seat blocks ("slots"); each has a section, row,
seats, quantity, split rule, delivery, a lifetime ``[appear, sell)`` and one or two
marketplaces (25 % are listed on two, at different all-in prices). ``--listings-per-event
M`` is the expected number of live marketplace listings per event at the start. Prices
move with the clock: fair value drifts with time to event and demand, each listing is
repriced every 6 h - 4 d of simulated time, 2 % of repricings are deep drops (50-70 % of
the usual ask), listings sell (vanish) and new ones appear. Nothing is stored: a page is
generated from ``hash(seed, event, slot, field)``, so the same seed and clock give
byte-identical responses and 1,000,000+ live listings cost no memory.

URL map (base URL ``http://HOST:PORT``; credential ``sandbox`` everywhere by default)
==========================================================================================
Ticketmaster ``/ticketmaster`` (real: https://app.ticketmaster.com), ``?apikey=``:
  GET /discovery/v2/events.json?keyword&city&classificationName&startDateTime&endDateTime
      &page&size&sort   (size <= 200; page*size >= 1000 -> 400 DIS1035, as the real API)
  GET /discovery/v2/events/{id}.json
  GET /commerce/v2/events/{id}/offers.json     primary face value per price zone + fees
  GET /top-picks/v1/events/{id}?quantity&page&size   seat-level listings ("picks"),
      (size default 20, max 200; ``quantity`` keeps picks with at least that many seats)
      page{number,size,totalElements,totalPages}, picks[] and _embedded.offer[] (faceValue,
      totalPrice = all-in per ticket, charges[]); each pick has a stable ``id`` =
      "{offerId}:{section}:{row}:{seats comma-joined}", which is the listing id.
  Headers Rate-Limit, Rate-Limit-Available, Rate-Limit-Over, Rate-Limit-Reset.
  ``_links`` hrefs are host-relative ("/discovery/v2/events.json?...") exactly like the
  real API: prepend the marketplace base URL (do not ``urljoin`` with the host).
SeatGeek ``/seatgeek`` (real: https://api.seatgeek.com), ``?client_id=``:
  GET /2/events?venue.city&q&taxonomies.name&datetime_utc.gte&datetime_utc.lte&page&per_page
      -> {"events": [...], "meta": {total, page, per_page, took, geolocation}}; event
      ``stats`` are whole dollars, all-in, over that event's live SeatGeek listings.
  GET /2/events/{id}, /2/venues?city, /2/venues/{id}, /2/performers?q, /2/performers/{id}
  GET /2/events/{id}/listings?page&per_page  (ours; per_page default 100, max 500):
      {"listings": [L...], "meta": {"total": int, "page": int, "per_page": int,
      "took": float}} where L = {"id": int, "event_id": int, "section": str as the seller
      typed it ("Section 112", "LOWER 112", "112", "Sec 112", "Floor A", "General
      Admission"), "row": str|null ("Row 12" or "12"; null for GA), "seat_numbers": [str],
      "quantity": int, "splits": [int], "price": {"base", "fees", "all_in": dollars with 2
      decimals per ticket, "currency": "USD"}, "delivery_method": "mobile"|"instant"|
      "electronic"|"will_call"|"physical", "zone": str, "market": "resale"|"primary",
      "created_at": ISO-8601 UTC "...Z", "url": str}.
Eventbrite ``/eventbrite`` (real: https://www.eventbriteapi.com),
``Authorization: Bearer TOKEN`` or ``?token=``:
  GET /v3/users/me/organizations/          one organization per club venue
  GET /v3/organizations/{id}/events/?status=live&page_size&continuation
      pagination{object_count, page_number, page_size, page_count, has_more_items,
      continuation} (continuation is null on the last page)
  GET /v3/events/{id}/?expand=venue, /v3/venues/{id}/
  GET /v3/events/{id}/ticket_classes/?continuation   money {display, currency, value (cents),
      major_value}; free (cost null), donation, hidden, on_sale_status AVAILABLE |
      SOLD_OUT | UNAVAILABLE (sales ended). A ticket class id is its listing id.
StubHub API ``/stubhub`` (real: https://api.stubhub.com), ``Authorization: Bearer TOKEN``:
  GET /search/catalog/events/v3?city&q&start&rows&sort -> {"numFound", "events": [...]}
      (rows default 10, max 500)
  GET /catalog/events/v3/{id}   (``externalEventMappings`` has {"namespace":
      "ticketmaster", "id": TM event id} when Ticketmaster sells the same event)
  GET /search/inventory/v2?eventId&start&rows&sectionStats=true&zoneStats=true
      &pricingSummary=true   (rows default 20, max 500) listing[] with currentPrice
      (buyer, all-in per ticket) and listingPrice (seller), sectionName (normalised,
      "Upper Level 321"),
      sellerSectionName (as typed), row ("GA" for GA), seatNumbers ("5,6" or "General
      Admission"), deliveryTypeList (1 electronic, 2 instant, 3 physical, 4 will call,
      5 mobile), splitVector; stats are over all live listings, in listing (seller) price.
  GET /catalog/venues/v3/{venueId}/venueConfigurations/{configId}  (+ "sections" with rows)
StubHub web ``/stubhub/web`` (real: https://www.stubhub.com), no auth:
  GET /event/{id}/  an HTML page that has NO listings until its script runs. Initially:
      <h1 class="event-name">, <time datetime="ISO-8601 UTC">, <div class="venue"
      data-venue-id="..">, and ``<ul id="listings" aria-busy="true"></ul>``. ~250 ms after
      load the script fetches ``listings.json`` (relative to the page) and inserts one
      ``<li class="listing-row" data-listing-id="ID" data-section="Section 112"
      data-row="Row 5" data-quantity="2" data-price="$123.45" data-currency="USD"
      data-delivery="mobile">`` per listing (text inside: section, row, "2 tickets", price),
      then sets ``data-loaded="true"`` and ``aria-busy="false"`` on the ``<ul>`` (on a
      fetch error: ``data-error`` and aria-busy false). Prices are all-in per ticket;
      data-row is "" for GA. Listing ids are the StubHub API's listingId, and the page
      shows the same listings (same malformed ones too) as the API at the same clock.
  GET /event/{id}/listings.json  what the script reads.

Errors are each service's own: a bad or missing credential -> Ticketmaster 401 ``fault``
(oauth.v2.InvalidApiKey), SeatGeek 403 ``{"errors", "message", "status", "meta"}``,
Eventbrite 401 ``{"status_code", "error_description", "error": "INVALID_AUTH"}``, StubHub
401 gateway ``fault``; unknown id -> 404 in the same family (Ticketmaster DIS1004,
Eventbrite NOT_FOUND, ...); bad parameter -> 400.

Faults (``--faults none|light|heavy``, or ``/_sandbox/config`` at runtime)
===========================================================================
Per marketplace: ``rate_limit`` (429 + ``Retry-After`` seconds), ``server_error`` (500,
502 or 503), ``slow`` (delayed ``slow_seconds``, then a good response), ``truncated`` (200
with the body cut in half: invalid JSON/HTML), and ``malformed``: the share of listings
that are always malformed (missing price, negative quantity, bad created_at date, or a
Ticketmaster pick without seats), inside otherwise good pages. A request's fault is drawn
from (seed, path+query, attempt number): retrying the same URL eventually succeeds.

Layout
======
``app`` (the ASGI callable: prefixes, credentials, faults, the page cache and the
``/_sandbox`` control API) routes each request to one marketplace subpackage:
``ticketmaster/``, ``seatgeek/``, ``eventbrite/`` and ``stubhub/`` (the API, and ``web``
for the website). Each has ``routes`` (URL -> handler, the credential it reads, its error
bodies), ``objects`` (its JSON objects built from the world) and, where a listing page is
hot, ``fastjson`` (that page rendered from columns). No marketplace imports another's;
what they share is in ``common`` (request view, responses, parameter errors, time and money
text, event search, seller spellings and split options) and ``fastjson`` (the byte-format
primitives). Below them: ``world`` and ``venues`` (events, seat maps), ``market`` (the
listing model), ``hashing``, ``clock``, ``faults``; ``truth`` reads the marketplaces'
objects; ``http`` and ``server`` run it; ``vendors/`` holds the SMTP, Twilio and Stripe
stand-ins the tests and benchmarks start.

Speed (``python -m bench.sandbox``; results in the README)
==========================================================
One sandbox process must serve fresh listing pages faster than a crawl benchmark can
fetch them. How: ``ListingModel._build_live`` draws all of a page's per-slot hashes in one
(fields x slots) block (numpy's per-call overhead, not arithmetic, dominates at 100
listings); the listing endpoints (SeatGeek listings, StubHub inventory, Ticketmaster top
picks) render their JSON from numpy columns with each marketplace's ``fastjson``:
per-seat-map tables of pre-rendered JSON text, integer cents written as orjson writes
dollar floats, and one bytes ``%`` format per page. The dict builders in ``objects``
(``sg_listings``, ``sh_listings``, ``tm_picks``) stay the readable definition of each
format (truth uses them, and any text that would need JSON escaping falls back to them);
``tests/test_sandbox_render.py`` holds the fast path to their exact bytes. Responses are
cached per (URL, clock second, fault config); the HTTP server (``sandbox.http``) answers
pipelined keep-alive requests in order.

Control and truth (``/_sandbox``)
=================================
GET  /_sandbox/            URLs, credentials, clock
GET  /_sandbox/clock       {"now": ISO, "epoch", "tick", "speed", "start"}
POST /_sandbox/clock       {"seconds": N} advance | {"set": ISO or epoch} | {"speed": X}
GET  /_sandbox/truth/events          every world event with its id on each marketplace
GET  /_sandbox/truth/summary         live seat-level listings per marketplace right now
GET  /_sandbox/ping                  a static {"ok":true} (the benchmark's baseline)
GET  /_sandbox/truth/events/{world_event_id}   every live listing: slot, kind, canonical
     section/row/seats, quantity, ``fair_cents``, and per marketplace {listing_id, section
     and row as shown, quantity, all_in_cents, price_cents, fees_cents, "malformed":
     reason when that record is malformed}; Eventbrite sellable ticket classes as listings;
     ``primary_tiers`` (all ticket classes, Ticketmaster offers per price zone);
     ``fair_get_in_cents`` = the lowest fair value among live listings.
GET  /_sandbox/stats (POST /_sandbox/stats/reset)  requests, faults by kind, statuses
GET/POST /_sandbox/config  {"preset": "heavy"}, {"all": {...}}, {"marketplaces":
     {"seatgeek": {"rate_limit": 0.2, "malformed": 0.05}}} (marketplaces: ticketmaster,
     seatgeek, eventbrite, stubhub, stubhub_web)
"""

from __future__ import annotations

from typing import Any

__all__ = ["SandboxApp", "SandboxConfig", "SandboxHandle", "create_app", "start_sandbox"]


def __getattr__(name: str) -> Any:
    """Lazy re-exports: importing the package stays cheap, and ``python -m
    sandbox.server`` does not import its own module twice."""
    if name in ("SandboxApp", "SandboxConfig", "create_app"):
        from sandbox import app

        return getattr(app, name)
    if name in ("SandboxHandle", "start_sandbox"):
        from sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
