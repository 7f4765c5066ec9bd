"""The sandbox inbox as a page (``/_sandbox/mail``) and as JSON (``/_sandbox/mail.json``):
what ``ripcity run`` sent by email while no real mail server is configured, newest first,
so a local user can open a sign-up confirmation or an alert. ``?to=`` keeps one address's.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from sandbox.vendors.smtp_inbox import Received

_LIMIT = 200
_URL = re.compile(r"https?://[^\s<>\"']+")


def _text(item: Received) -> str:
    body = item.message.get_body(preferencelist=("plain", "html"))
    return body.get_content() if body is not None else ""


def messages(received: list[Received], to: str | None = None) -> list[dict[str, Any]]:
    """The newest messages (at most 200), optionally only those to ``to``."""
    want = to.strip().lower() if to else None
    out: list[dict[str, Any]] = []
    for item in reversed(received):
        if want is not None and want not in (r.lower() for r in item.rcpt_tos):
            continue
        out.append({"to": item.rcpt_tos, "from": item.mail_from,
                    "subject": item.message.get("subject", ""),
                    "received_at": datetime.fromtimestamp(item.accepted_at, UTC).isoformat(),
                    "text": _text(item)})
        if len(out) == _LIMIT:
            break
    return out


def _linked(text: str) -> str:
    """Escaped text whose URLs are links."""
    parts, last = [], 0
    for m in _URL.finditer(text):
        parts.append(html.escape(text[last:m.start()]))
        url = html.escape(m.group(0))
        parts.append(f'<a href="{url}">{url}</a>')
        last = m.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def page(received: list[Received], to: str | None = None) -> bytes:
    items = messages(received, to)
    rows = "".join(
        f"<article><h2>{html.escape(m['subject'] or '(no subject)')}</h2>"
        f"<p><b>To:</b> {html.escape(', '.join(m['to']))} &middot; <b>From:</b> "
        f"{html.escape(m['from'])} &middot; <time>{html.escape(m['received_at'])}</time></p>"
        f"<pre>{_linked(m['text'])}</pre></article>" for m in items)
    empty = "" if items else "<p>No email yet.</p>"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Sandbox inbox</title>"
        "<style>body{font:15px system-ui,sans-serif;max-width:50rem;margin:2rem auto;"
        "padding:0 1rem}article{border-top:1px solid #ccc;padding:.5rem 0}pre{white-space:"
        "pre-wrap}</style></head><body><h1>Sandbox inbox</h1><p>Email sent by Rip City "
        "while no real mail server is configured (set <code>RIPCITY_SMTP_HOST</code> to "
        f"send real email). Newest first; {len(items)} shown.</p>{empty}{rows}</body></html>"
    ).encode()
