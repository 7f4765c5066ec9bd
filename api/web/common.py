"""What every dashboard page shares: who is looking, CSRF on forms, flash notes, rendering.

The rate-limit middleware has already resolved the session cookie to a ``Principal``; pages
read it from the request state. Browser forms carry the session's CSRF token in a hidden
``csrf`` field (htmx requests send it as ``X-CSRF-Token``), checked on every POST. After a
POST the page redirects (303) and a one-shot cookie carries the note shown on the next
page, so reloading never repeats a write.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from api.lib.auth import CSRF_HEADER, check_origin, principal_of
from api.lib.errors import ApiError, Forbidden
from api.lib.headers import csp_nonce
from api.lib.replicas import reads_of
from api.lib.security import same
from api.web import fmt
from storage import setup as setup_store

if TYPE_CHECKING:
    from litestar import Request

    from api.lib.principals import Principal
    from api.lib.runtime import Runtime

logger = logging.getLogger(__name__)

FLASH_COOKIE = "ripcity_flash"


class LoginRequired(ApiError):
    """Raised by pages that need an account; the router turns it into a redirect."""

    status_code, slug, title = 401, "login-required", "Log in to continue"


@dataclasses.dataclass(slots=True)
class Form:
    """A submitted form: ``get`` for one value, ``all`` for checkboxes."""

    _data: Any

    def get(self, name: str, default: str = "") -> str:
        value = self._data.get(name)
        return str(value).strip() if value is not None else default

    def all(self, name: str) -> list[str]:
        return [str(v) for v in self._data.getall(name, [])]


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def viewer(request: Request[Any, Any, Any]) -> Principal | None:
    return principal_of(request)


def need_user(request: Request[Any, Any, Any]) -> Principal:
    user = principal_of(request)
    if user is None:
        raise LoginRequired("Log in or sign up to use this page.")
    return user


async def read_form(request: Request[Any, Any, Any], *, csrf: bool = True) -> Form:
    """The posted form; with ``csrf`` the caller must be logged in and echo the token."""
    data = await request.form()
    if any("\x00" in str(v) for _, v in data.multi_items()):
        raise ApiError("A box in this form holds a NUL (0x00) character: remove it and "
                       "submit again.")
    form = Form(data)
    if csrf:
        user = need_user(request)
        sent = request.headers.get(CSRF_HEADER) or form.get("csrf")
        if not sent or not user.csrf_token or not same(sent, user.csrf_token):
            raise Forbidden("This form expired (its security token does not match your "
                            "session): reload the page and submit it again.")
        check_origin(request, runtime_of(request).settings.public_url)
    return form


FORM_TOKEN_COOKIE = "ripcity_form"


def form_token(request: Request[Any, Any, Any]) -> tuple[str, Cookie]:
    """The token a form that logs someone in carries before there is a session (login, the
    email link): a random value in a SameSite=Strict cookie, echoed in the form, so another
    site cannot post the form and sign the visitor into an account of its choosing."""
    from api.lib.security import new_token

    token = request.cookies.get(FORM_TOKEN_COOKIE) or new_token()
    return token, Cookie(key=FORM_TOKEN_COOKIE, value=token, path="/", max_age=3600,
                         httponly=True, samesite="strict",
                         secure=runtime_of(request).settings.public_url.startswith("https://"))


def check_form_token(request: Request[Any, Any, Any], form: Form) -> None:
    """:class:`Forbidden` unless the form echoes the cookie of :func:`form_token`."""
    cookie, sent = request.cookies.get(FORM_TOKEN_COOKIE), form.get("form_token")
    if not cookie or not sent or not same(cookie, sent):
        raise Forbidden("This form expired (its security token does not match): reload the "
                        "page and submit it again.")


def redirect(to: str, note: str | None = None, *, error: bool = False,
             cookies: list[Cookie] | None = None) -> Redirect:
    """A 303 to ``to``, carrying a one-shot note for the next page."""
    jar = list(cookies or [])
    if note:
        jar.append(Cookie(key=FLASH_COOKIE, value=quote(("!" if error else "") + note[:400]),
                          path="/", max_age=60, httponly=True, samesite="lax"))
    return Redirect(to, status_code=303, cookies=jar)


def _flash(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    from urllib.parse import unquote

    text = unquote(raw)
    return {"error": text.startswith("!"), "text": text.lstrip("!")}


def page(request: Request[Any, Any, Any], template: str, *, status: int = 200,
         title: str = "", **context: Any) -> Template:
    """Render ``template`` with what the layout needs (viewer, CSRF token, flash note)."""
    user = principal_of(request)
    flash = _flash(request)
    runtime = runtime_of(request)
    ctx = {
        "title": title, "user": user, "csrf": user.csrf_token if user else "",
        "flash": flash, "fmt": fmt, "path": request.url.path,
        "is_admin": request.scope.get("state", {}).get(_ADMIN_KEY) or is_admin(user, runtime),
        "range_": range, "csp_nonce": csp_nonce(request),
        **context,
    }
    cookies = [Cookie(key=FLASH_COOKIE, value="", path="/", max_age=0)] if flash else None
    return Template(template_name=template, context=ctx, status_code=status, cookies=cookies,
                    headers={"Cache-Control": "no-store"} if user else None)


def is_admin(user: Principal | None, runtime: Runtime) -> bool:
    """The accounts listed in ``RIPCITY_ADMIN_EMAILS`` (comma-separated) are admins."""
    if user is None:
        return False
    allowed = getattr(runtime.settings, "admin_emails", None) or ""
    emails = {e.strip().lower() for e in str(allowed).split(",") if e.strip()}
    return user.email.lower() in emails


_ADMIN_KEY = "ripcity_is_admin"


async def admin_of(request: Request[Any, Any, Any]) -> bool:
    """Whether the viewer is an admin: listed in ``RIPCITY_ADMIN_EMAILS``, or flagged in
    the database (the first admin, created from the setup link). Looked up once per
    request; the dashboard router calls it before every page (the Ops link)."""
    state = request.scope.setdefault("state", {})
    if _ADMIN_KEY not in state:
        user = principal_of(request)
        runtime = runtime_of(request)
        admin = is_admin(user, runtime)
        if user is not None and not admin:
            async with reads_of(request).connection() as conn:
                admin = await setup_store.is_admin(conn, user.user_id)
        state[_ADMIN_KEY] = admin
    return bool(state[_ADMIN_KEY])


def login_url(request: Request[Any, Any, Any]) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": target})


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths are followed after login (no open redirects)."""
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return default
