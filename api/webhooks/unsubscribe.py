"""``GET|POST /alerts/unsubscribe``: RFC 8058 one-click unsubscribe from alert emails.

The link in each alert email (``List-Unsubscribe``) is signed by the engine with
:mod:`storage.unsubscribe`, so it works without a login; GET shows a confirm button (link
scanners follow GETs), POST unsubscribes.
"""

from __future__ import annotations

from typing import Annotated
from xml.sax.saxutils import escape

from litestar import MediaType, get, post
from litestar.params import QueryParameter

from api.lib.deps import RuntimeDep
from api.lib.errors import Forbidden
from storage import accounts
from storage.unsubscribe import UNSUBSCRIBE_PATH, valid_token

UserQ = Annotated[int, QueryParameter(ge=1, description="user id")]
TokenQ = Annotated[str, QueryParameter(max_length=100, description="signed token")]
ChannelQ = Annotated[str, QueryParameter(max_length=10, description="email or sms")]

_PAGE = """<!doctype html><html><head><link rel="stylesheet" href="/static/app.css"></head><body>
<h2>{title}</h2><p>{text}</p>{form}</body></html>"""


async def _check_token(runtime: RuntimeDep, u: int, c: str, t: str) -> None:
    async with runtime.pool.connection() as conn:
        user_key = await accounts.unsubscribe_key(conn, u)
    if c not in ("email", "sms") or not valid_token(runtime.settings.secret_key or "", u, c,
                                                    user_key, t):
        raise Forbidden("This unsubscribe link is not valid (it may be cut short): use the "
                        "link from the latest alert email, or turn alerts off on the dashboard")


@get(UNSUBSCRIBE_PATH, include_in_schema=False, media_type=MediaType.HTML)
async def unsubscribe_page(runtime: RuntimeDep, u: UserQ, t: TokenQ,
                           c: ChannelQ = "email") -> str:
    """Confirm page (link scanners follow GETs, so GET never unsubscribes)."""
    await _check_token(runtime, u, c, t)
    form = (f'<form method="post" action="{UNSUBSCRIBE_PATH}?u={u}&c={escape(c)}&t={escape(t)}">'
            '<button name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>')
    what = "emails" if c == "email" else "texts"
    return _PAGE.format(title=f"Stop alert {what}?",
                        text=f"You will get no more price alert {what}.", form=form)


@post(UNSUBSCRIBE_PATH, include_in_schema=False, media_type=MediaType.HTML, status_code=200)
async def unsubscribe(runtime: RuntimeDep, u: UserQ, t: TokenQ, c: ChannelQ = "email") -> str:
    """RFC 8058 one-click: the mail client POSTs ``List-Unsubscribe=One-Click`` here."""
    await _check_token(runtime, u, c, t)
    async with runtime.pool.connection() as conn:
        await accounts.set_opt_out(conn, u, c, True)
    return _PAGE.format(title="Unsubscribed", text="You will get no more price alert "
                        f"{'emails' if c == 'email' else 'texts'}.", form="")


ROUTE_HANDLERS = [unsubscribe_page, unsubscribe]
