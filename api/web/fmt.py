"""Formatting for templates: money from integer cents, dates, trends, marketplace names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MARKETPLACES = {"ticketmaster": "Ticketmaster", "seatgeek": "SeatGeek",
                "eventbrite": "Eventbrite", "stubhub": "StubHub"}
#: chart colours per marketplace (readable on white, distinct for colour-blind viewers)
COLORS = {"ticketmaster": "#0b5cad", "seatgeek": "#d1495b", "eventbrite": "#e68a00",
          "stubhub": "#2a9d8f"}


def money(cents: int | None, *, exact: bool = False) -> str:
    """``$1,234`` (or ``$1,234.50`` with ``exact``); an em dash when unknown."""
    if cents is None:
        return "—"
    if exact or cents % 100:
        return f"${cents / 100:,.2f}"
    return f"${cents // 100:,}"


def dollars(cents: int | None) -> str:
    """Plain dollars for form fields (``85.00``)."""
    return "" if cents is None else f"{cents / 100:.2f}"


def market(name: str | None) -> str:
    return MARKETPLACES.get(name or "", (name or "").title())


def color(name: str) -> str:
    return COLORS.get(name, "#555")


def when(value: datetime | None, tz: str | None = None) -> str:
    """``Sat, Dec 19 · 7:00 PM`` in the venue's zone; "Date to be announced" when unknown."""
    if value is None:
        return "Date to be announced"
    try:
        local = value.astimezone(ZoneInfo(tz)) if tz else value.astimezone(UTC)
    except ZoneInfoNotFoundError:
        local = value.astimezone(UTC)
    suffix = "" if tz else " UTC"
    return local.strftime("%a, %b %-d %Y · %-I:%M %p") + suffix


def stamp(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 90:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def age(seconds: float | None) -> str:
    """ "14 min ago" from an age in seconds (the freshness line)."""
    if seconds is None:
        return "never"
    if seconds < 90:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            plural = "s" if unit == "day" and n != 1 else ""
            return f"{n} {unit}{plural} ago"
    return "just now"


def trend(now: int | None, then: int | None) -> dict[str, Any]:
    """Direction, arrow and text of a get-in price change."""
    if now is None or then is None or then == 0:
        return {"dir": "unknown", "arrow": "·", "text": "no trend yet"}
    change = now - then
    pct = 100.0 * change / then
    if change == 0:
        return {"dir": "flat", "arrow": "→", "text": "unchanged in 24 h"}
    word = "up" if change > 0 else "down"
    return {"dir": word, "arrow": "▲" if change > 0 else "▼",
            "text": f"{word} {money(abs(change))} ({abs(pct):.0f}%) in 24 h"}


def deal_class(score: float | None) -> str:
    """Badge style by deal score: great >= 20, good >= 8, fair >= 0, else over."""
    if score is None:
        return "none"
    if score >= 20:
        return "great"
    if score >= 8:
        return "good"
    return "fair" if score >= 0 else "over"


def deal_label(score: float | None) -> str:
    return {"great": "Great deal", "good": "Good deal", "fair": "Fair price",
            "over": "Above value", "none": "Not scored"}[deal_class(score)]


def seat(section: str | None, row: str | None) -> str:
    parts = [f"Sec {section}" if section else "", f"Row {row}" if row else ""]
    return ", ".join(p for p in parts if p) or "General admission"


def rule_text(rule: dict[str, Any]) -> str:
    """A rule in words: "All-in price at or below $85 (2+ tickets)"."""
    kind = rule.get("kind")
    qty = rule.get("quantity") or 1
    tail = f" ({qty}+ tickets)" if qty > 1 else ""
    if kind == "price_at_or_below":
        return f"All-in price at or below {money(rule.get('max_price_cents'))}{tail}"
    if kind == "drop_percent":
        by = []
        if rule.get("drop_percent"):
            by.append(f"{rule['drop_percent']:g}%")
        if rule.get("drop_cents"):
            by.append(money(rule["drop_cents"]))
        hours = (rule.get("window_seconds") or 86_400) / 3600
        within = "a day" if hours == 24 else f"{hours:g} hours"
        return f"Get-in price drops {' or '.join(by) or '?'} or more within {within}{tail}"
    secs = rule.get("sections") or []
    getin = f"Get-in price in section {', '.join(secs)}" if secs else "Get-in price"
    if kind == "new_low":
        days = (rule.get("low_window_seconds") or 0) / 86_400
        over = f"in {days:g} days" if days else "since we started tracking"
        return f"{getin} hits a new low {over}{tail}"
    if kind == "near_low":
        return (f"{getin} within {rule.get('near_percent') or 5:g}% of its lowest"
                f"{tail}")
    if kind == "keeps_dropping":
        return f"{getin} drops {rule.get('drop_count') or 2} times in a row{tail}"
    if kind == "price_protection":
        return (f"Price protection: same or better seats below "
                f"{money(rule.get('max_price_cents'))} (see Purchases)")
    if kind == "back_in_stock":
        return f"Tickets are back after a sell-out{tail}"
    if kind == "deal_score_at_least":
        return f"Deal score {rule.get('min_deal_score'):g} or better{tail}"
    if kind == "new_listing_in_section":
        return f"New listing in section {', '.join(rule.get('sections') or [])}{tail}"
    return str(kind).replace("_", " ")


def saved_text(s: Any) -> str:
    """A saved search in words: "“Blazers” · basketball · up to $60 · 2+ tickets · by price"."""
    parts = []
    if s.q:
        parts.append(f"“{s.q}”")
    for value in (s.category, s.city):
        if value:
            parts.append(str(value))
    if s.starts_after or s.starts_before:
        a = s.starts_after.strftime("%b %-d") if s.starts_after else "now"
        b = s.starts_before.strftime("%b %-d") if s.starts_before else "any time"
        parts.append(f"{a} – {b}")
    if s.marketplace:
        parts.append(f"on {market(s.marketplace)}")
    if s.min_price_cents is not None:
        parts.append(f"from {money(s.min_price_cents)}")
    if s.max_price_cents is not None:
        parts.append(f"up to {money(s.max_price_cents)}")
    if s.quantity > 1:
        parts.append(f"{s.quantity}+ tickets together")
    if s.min_deal_score is not None:
        parts.append(f"deal score ≥ {s.min_deal_score:g}")
    parts.append(f"by {s.sort}")
    return " · ".join(parts) if len(parts) > 1 else "every upcoming event · " + parts[0]
