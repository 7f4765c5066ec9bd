"""StubHub's website under ``/stubhub/web``: an event page whose listings appear only after
its script runs (a browser is needed), and the JSON the script fetches.

The page's DOM contract (the crawler's Playwright parser relies on it) is documented in the
``sandbox`` package docstring. No credential is needed.
"""

from __future__ import annotations

import html

import orjson

from sandbox.common import Request, Response, iso_z, section_texts
from sandbox.market import DELIVERIES, MALFORMED_KINDS, Live, listing_id
from sandbox.stubhub.objects import M
from sandbox.world import WorldEvent, sh_venue_id

_HTML = b"text/html; charset=utf-8"

_SCRIPT = """
(function () {
  var ul = document.getElementById("listings");
  function esc(s) { var d = document.createElement("div"); d.textContent = s; return d.innerHTML; }
  setTimeout(function () {
    fetch("listings.json", {headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        var out = [];
        data.listings.forEach(function (l) {
          out.push('<li class="listing-row" data-listing-id="' + l.id + '" data-section="' +
            esc(l.section) + '" data-row="' + esc(l.row || "") + '" data-quantity="' +
            l.quantity + '" data-price="' + esc(l.price || "") + '" data-currency="' +
            l.currency + '" data-delivery="' + l.delivery + '"><span class="sec">' +
            esc(l.section) + '</span> <span class="row">' + esc(l.row || "") +
            '</span> <span class="qty">' + l.quantity + ' tickets</span> <span class="price">' +
            esc(l.price || "") + '</span></li>');
        });
        ul.innerHTML = out.join("");
        ul.setAttribute("data-loaded", "true");
        ul.setAttribute("aria-busy", "false");
      })
      .catch(function (err) {
        ul.setAttribute("data-error", String(err));
        ul.setAttribute("aria-busy", "false");
      });
  }, %(delay)d);
})();
"""


def _not_found() -> Response:
    body = b"<!doctype html><html><head><title>Page not found | StubHub</title></head>" \
           b"<body><h1>Sorry, we couldn't find that page.</h1></body></html>"
    return Response(404, body, _HTML, cacheable=False)


def rate_limited() -> Response:
    return Response(429, b"<!doctype html><html><body><h1>Too Many Requests</h1></body></html>",
                    _HTML, cacheable=False)


def handle(req: Request) -> Response:
    p = [s for s in req.parts if s]
    if len(p) >= 2 and p[0] == "event":
        e = req.world.event_for(M, p[1])
        if e is None:
            return _not_found()
        if len(p) == 2:
            return Response(200, _page(e).encode(), _HTML)
        if len(p) == 3 and p[2] == "listings.json":
            items = _web_listings(e, req.model.live(e, M, req.t))
            return Response(200, orjson.dumps({"eventId": int(e.ids[M]), "listings": items}))
    return _not_found()


def _page(e: WorldEvent, delay_ms: int = 250) -> str:
    name = html.escape(e.name)
    local = e.start_local
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{name} Tickets - {local:%m/%d/%Y} | StubHub</title></head>\n<body>\n"
        f"<main class=\"event\" data-event-id=\"{e.ids[M]}\">\n"
        f"<h1 class=\"event-name\">{name}</h1>\n"
        f"<time datetime=\"{iso_z(e.start)}\">{local:%a, %b %d %Y %I:%M %p}</time>\n"
        f"<div class=\"venue\" data-venue-id=\"{sh_venue_id(e.venue)}\">"
        f"{html.escape(e.venue.name)}, {e.venue.city}, {e.venue.state}</div>\n"
        "<ul id=\"listings\" aria-busy=\"true\"></ul>\n</main>\n"
        f"<script>{_SCRIPT % {'delay': delay_ms}}</script>\n</body></html>\n"
    )


def _web_listings(e: WorldEvent, live: Live) -> list[dict]:
    """What the page's script receives: all-in price per ticket as display text."""
    secs = e.seat_map.sections
    texts = section_texts(e.seat_map)
    base_id = listing_id(M, e, 0)
    out = []
    for k, r, q, total, deliv, slot, bad in zip(
            live.section.tolist(), live.row.tolist(), live.qty.tolist(), live.total.tolist(),
            live.delivery.tolist(), live.slot.tolist(), live.malformed.tolist(), strict=True):
        reason = MALFORMED_KINDS[M][bad - 1] if bad else None
        out.append({"id": base_id + slot, "section": texts[k][0],
                    "row": f"Row {secs[k].rows[r]}" if r >= 0 else None,
                    "quantity": -q if reason == "negative_quantity" else q,
                    "price": None if reason == "missing_price" else f"${total / 100:,.2f}",
                    "currency": "USD", "delivery": DELIVERIES[deliv]})
    return out
