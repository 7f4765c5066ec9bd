"""The first administrator: ``/setup?token=...``, the one-time link ``ripcity run`` prints on
a fresh embedded install, creates an account flagged as an administrator and logs it in.

The token is the page's credential (no session exists yet): it is checked when the form is
shown and spent, once, in the same transaction that creates the account
(:func:`storage.setup.create_first_admin`). A used or expired link answers 404 with what to
do; an email that is already taken sends the person back to the form with the token intact.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from api.accounts import service
from api.accounts.schemas import Email, Password
from api.lib.security import hash_password, token_hash
from api.web.common import page, read_form, redirect, runtime_of
from api.web.failures import refusal
from storage import setup as setup_store
from storage.errors import Conflict, NotFound


def _valid(value: str, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return False
    return True


class SetupPages(Controller):
    include_in_schema = False

    @get("/setup", name="web:setup")
    async def setup_form(self, request: Request[Any, Any, Any],
                         token: FromQuery[str] = "") -> Template:
        async with runtime_of(request).pool.connection() as conn:
            if not token or not await setup_store.setup_token_valid(conn, token_hash(token)):
                raise NotFound(setup_store.SPENT)
        return page(request, "setup.html", title="Create the administrator account",
                    token=token)

    @post("/setup")
    async def setup(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request, csrf=False)  # the token is the credential
        token, email, password = form.get("token"), form.get("email"), form.get("password")
        back = "/setup?" + urlencode({"token": token})
        if not _valid(email, Email) or not _valid(password, Password):
            return redirect(back, "Use an email like you@example.com and a password of at "
                            "least 10 characters.", error=True)
        runtime = runtime_of(request)
        async with runtime.pool.connection() as conn:
            try:
                user_id = await setup_store.create_first_admin(
                    conn, token_hash(token), email, hash_password(password),
                    form.get("display_name") or None)
            except Conflict as err:  # the token stays unused: try another email
                return redirect(back, refusal(err), error=True)
            session, csrf, expires = await service.open_session(
                conn, user_id, request.headers.get("user-agent"))
        return redirect("/ops", "Your administrator account is ready: this is the operations "
                        "page.", cookies=service.session_cookies(runtime.settings, session,
                                                                 csrf, expires))
