"""Message text: one email (plain text + HTML) or one SMS for one or more matches.

Every message names the listing, the price change and where to buy; the email carries a
one-click unsubscribe (``List-Unsubscribe`` + ``List-Unsubscribe-Post``), the SMS the
carrier-standard "Reply STOP". The idempotency key rides along (``Message-ID``, and
``ref`` in the SMS) so a message can be recognised at the provider after a crash.
"""

from __future__ import annotations

import dataclasses
import uuid
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, select_autoescape

from storage.unsubscribe import unsubscribe_url

_KIND_TITLE = {
    "price_at_or_below": "Price at or below your target",
    "drop_percent": "Get-in price dropped",
    "deal_score_at_least": "Deal alert",
    "new_listing_in_section": "New listing in your section",
    "back_in_stock": "Back in stock",
    "new_low": "New low get-in price",
    "near_low": "Get-in price near its low",
    "keeps_dropping": "Get-in price keeps dropping",
    "webhook_disabled": "Webhook endpoint disabled",
    "price_protection": "Cheaper than you paid: claim the difference",
    "saved_search_event": "New event for your saved search",
    "saved_search_listing": "Matches your saved search",
    "recommendation": "Recommended for you",
}

_HTML = Environment(autoescape=select_autoescape(default=True)).from_string("""\
<!doctype html><html><body style="font-family:sans-serif">
<h2>{{ heading }}</h2>
{% for m in items %}
<div style="margin:0 0 16px">
 <strong>{{ m.title }}</strong> &mdash; {{ m.event }}<br>
 {% if m.price %}{{ m.seat }}: <strong>{{ m.price }}</strong> per ticket all-in
 {%- if m.change %} ({{ m.change }}){% endif %}<br>
 {% if m.url %}<a href="{{ m.url }}">Buy on {{ m.marketplace }}</a>{% endif %}
 {%- else %}{{ m.seat }}<br><a href="{{ m.url }}">Manage your webhook endpoints</a>{% endif %}
</div>
{% endfor %}
<p style="color:#666;font-size:12px">You get this because of your alert rules.
<a href="{{ unsubscribe }}">Unsubscribe from alert emails</a>.</p>
<img src="{{ pixel }}" width="1" height="1" alt="">
</body></html>""")


# Quoted-printable keeps mostly-ASCII text readable on the wire (and in the tests' logs).
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


class _Unfolded(Compat32):
    """compat32 without folding: one header, one line (the unsubscribe URL stays whole;
    SMTP allows 998). Plain ASCII values are written as they are, skipping the ``Header``
    object compat32 builds for every header of every message."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii() and not ("\r" in value or "\n" in value):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)  # type: ignore[misc]


_POLICY = _Unfolded(max_line_length=None)


def _header(value: str) -> str | Header:
    """ASCII as is; anything else RFC 2047-encoded."""
    return value if value.isascii() else Header(value, "utf-8")


def dollars(cents: int | None) -> str:
    if cents is None:
        return "?"
    return f"${cents / 100:,.0f}" if cents % 100 == 0 else f"${cents / 100:,.2f}"


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    """One match, ready to print."""

    title: str
    event: str
    seat: str
    price: str
    change: str
    url: str | None
    marketplace: str


def _line(m: dict[str, Any], public_url: str) -> Line:
    if m.get("kind") == "webhook_disabled":  # a notice, not a listing
        return Line(_KIND_TITLE["webhook_disabled"], str(m.get("endpoint_url")),
                    f"We stopped sending to it: {m.get('reason')}. Fix it, then enable it "
                    "again.", "", "", m.get("url"), "")
    if m.get("kind") == "recommendation":  # the weekly picks: an event and why
        event = m.get("event_name") or f"event {m.get('event_id')}"
        if m.get("starts_at"):
            event += f" ({str(m['starts_at'])[:10]})"
        return Line("Recommended for you", event, str(m.get("reason") or "")[:1].upper()
                    + str(m.get("reason") or "")[1:], dollars(m.get("total_cents")), "",
                    f"{public_url.rstrip('/')}/events/{m.get('event_id')}?from=rec",
                    "Rip City")
    seat = f"Sec {m.get('section') or '?'}"
    if m.get("row"):
        seat += f" Row {m['row']}"
    seat += f", {m.get('quantity') or 1} tix"
    old, new = m.get("old_total_cents"), m.get("total_cents")
    change = f"was {dollars(old)}" if old is not None and new is not None and old > new else ""
    if m.get("kind") == "price_protection" and m.get("reference_cents") is not None:
        change = f"you paid {dollars(m['reference_cents'])}: claim the difference"
    if m.get("kind") == "deal_score_at_least" and m.get("deal_score") is not None:
        change = (change + ", " if change else "") + f"deal score {m['deal_score']:.0f}"
    event = m.get("event_name") or f"event {m.get('event_id')}"
    if m.get("starts_at"):
        event += f" ({str(m['starts_at'])[:10]})"
    url = m.get("url") or f"{public_url.rstrip('/')}/events/{m.get('event_id')}"
    return Line(_title(m), event, seat, dollars(new), change, url,
                m.get("marketplace") or "the marketplace")


#: a low rule with sections follows their get-in price: the title names the section
_SECTION_TITLE = {"new_low": "New low in Section {}", "near_low": "Near its low in Section {}",
                  "keeps_dropping": "Still dropping in Section {}"}


def _title(m: dict[str, Any]) -> str:
    kind = m.get("kind", "")
    if kind in _SECTION_TITLE and m.get("sections") and m.get("section"):
        return _SECTION_TITLE[kind].format(m["section"])
    return _KIND_TITLE.get(kind, "Ticket alert")


def _ordered(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every match of the payloads, cheapest first (picks keep their rank)."""
    items = [m for p in payloads for m in p.get("matches", [])]
    if all(m.get("kind") == "recommendation" for m in items):
        return items
    items.sort(key=lambda m: (m.get("total_cents") or 0, m.get("match_id") or 0))
    return items


def lines(payloads: list[dict[str, Any]], public_url: str) -> list[Line]:
    """Every match of the coalesced outbox payloads, cheapest first."""
    return [_line(m, public_url) for m in _ordered(payloads)]


def _tracked(items: list[Line], payloads: list[dict[str, Any]], public_url: str,
             key: str) -> list[Line]:
    """The email's buy links through the dashboard's redirect (``/t/{key}/go``), which
    records "alert followed" (first party) before sending the reader to the marketplace."""
    ms = _ordered(payloads)
    base = public_url.rstrip("/")
    return [dataclasses.replace(it, url=f"{base}/t/{quote(key)}/go?e={m['event_id']}"
                                f"&m={quote(str(m['marketplace']))}")
            if m.get("event_id") and m.get("marketplace") else it
            for it, m in zip(items, ms, strict=True)]


def render_email(*, key: str, to: str, sender: str, payloads: list[dict[str, Any]],
                 public_url: str, secret: str, user_id: int,
                 unsubscribe_key: str) -> MIMEMultipart:
    """The alert email: text and HTML parts, Message-ID = the idempotency key.

    Built with the ``email.mime`` classes rather than ``EmailMessage``: the modern header
    registry parses and refolds every header, which made rendering most of the
    dispatcher's CPU per message.
    """
    items = _tracked(lines(payloads, public_url), payloads, public_url, key)
    first = items[0]
    if all(m.get("kind") == "recommendation" for m in _ordered(payloads)):
        subject = f"Recommended for you this week: {first.event}"
    else:
        subject = (f"{first.title}: {first.event} {first.price}" if len(items) == 1
                   else f"{len(items)} ticket alerts, from {first.price}")
    unsub = unsubscribe_url(public_url, secret, user_id, "email", unsubscribe_key)
    text = [subject, ""]
    for it in items:
        if not it.price:  # a notice
            text += [f"{it.title} - {it.event}", f"  {it.seat}", f"  Manage: {it.url}", ""]
            continue
        text += [f"{it.title} - {it.event}",
                 f"  {it.seat}: {it.price} per ticket all-in" + (f" ({it.change})"
                                                                  if it.change else ""),
                 f"  Buy: {it.url}", ""]
    text += ["You get this because of your alert rules.", f"Unsubscribe: {unsub}"]
    # A boundary of our own: the generator would otherwise compile a regex for a random one.
    msg = MIMEMultipart("alternative", boundary=f"==rc-{uuid.uuid4().hex}==", policy=_POLICY)
    msg["From"] = _header(sender)
    msg["To"] = _header(to)
    msg["Subject"] = _header(subject)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{key}@alerts.ripcity>"
    msg["X-Ripcity-Alert"] = key
    msg["List-Unsubscribe"] = f"<{unsub}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.attach(MIMEText("\n".join(text) + "\n", "plain", _UTF8, policy=_POLICY))
    pixel = f"{public_url.rstrip('/')}/t/{quote(key)}/open.gif"
    msg.attach(MIMEText(_HTML.render(heading=subject, items=items, unsubscribe=unsub,
                                     pixel=pixel),
                        "html", _UTF8, policy=_POLICY))
    return msg


def render_sms(*, key: str, payloads: list[dict[str, Any]], public_url: str) -> str:
    """One SMS (kept near one or two segments): the best match, a count, the ref."""
    items = lines(payloads, public_url)
    best = items[0]
    more = f" +{len(items) - 1} more" if len(items) > 1 else ""
    change = f" ({best.change})" if best.change else ""
    return (f"RipCity: {best.event}: {best.seat} {best.price} all-in{change}{more}. "
            f"{best.url} Reply STOP to end. ref {key}")
