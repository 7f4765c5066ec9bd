"""Sign up, log in and out, password reset, and the account page (profile, notification
settings, phone verification, API keys, plan and billing).

Every write goes through the same account steps and storage functions as the REST
endpoints (``api.accounts.service``, :mod:`storage.accounts`); a bad value comes back as a
note on the page, never a JSON error.
"""

from __future__ import annotations

import zoneinfo
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from api.accounts import phone as phone_mod
from api.accounts import service
from api.accounts.schemas import Email, Password
from api.billing import checkout as co
from api.billing.client import billing_enabled, stripe_client
from api.lib.errors import ApiError, Unauthorized, from_storage
from api.lib.ratelimit import CSRF_COOKIE, SESSION_COOKIE
from api.lib.replicas import reads_of
from api.web.common import (
    check_form_token,
    form_token,
    need_user,
    page,
    read_form,
    redirect,
    runtime_of,
    safe_next,
)
from api.web.failures import REFUSED, refusal
from api.web.forms import QuietHours, decode_form
from storage import accounts
from storage import billing as billing_store
from storage import recommendations as recommendations_store
from storage.errors import StorageError


def _check(value: str, kind: Any, what: str) -> str:
    """Validate with the REST schema's constraints, so both front doors agree."""
    try:
        return str(msgspec.convert(value, kind))
    except msgspec.ValidationError:
        hint = ("an address like you@example.com" if kind is Email
                else "at least 10 characters")
        raise ApiError(f"That {what} is not valid: use {hint}.") from None


async def _log_in(request: Request[Any, Any, Any], user_id: int, to: str,
                  note: str) -> Redirect:
    runtime = runtime_of(request)
    async with runtime.pool.connection() as conn:
        token, csrf, expires = await service.open_session(conn, user_id,
                                                          request.headers.get("user-agent"))
    return redirect(to, note,
                    cookies=service.session_cookies(runtime.settings, token, csrf, expires))


class AccountPages(Controller):
    include_in_schema = False

    @get("/signup", name="web:signup")
    async def signup_form(self, request: Request[Any, Any, Any],
                          next: FromQuery[str | None] = None) -> Template:
        return page(request, "signup.html", title="Create your account",
                    next=safe_next(next))

    @post("/signup")
    async def signup(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request, csrf=False)
        nxt = safe_next(form.get("next"))
        try:
            email = _check(form.get("email"), Email, "email")
            password = _check(form.get("password"), Password, "password")
            await service.sign_up(runtime_of(request), email, password,
                                  form.get("display_name")[:100] or None)
        except REFUSED as err:
            return redirect(f"/signup?next={nxt}", refusal(err), error=True)
        return redirect(f"/login?next={nxt}", "Check your inbox: we sent a link to confirm "
                        "your address and log you in (valid for a day).")

    @get("/verify-email", name="web:verify-email")
    async def verify_email_form(self, request: Request[Any, Any, Any],
                                token: FromQuery[str] = "") -> Template:
        """A button, not an automatic verification: mail scanners follow links."""
        ftoken, cookie = form_token(request)
        resp = page(request, "confirm.html", title="Confirm your email",
                    text="One click confirms this address and logs you in.",
                    action="/verify-email", button="Confirm and log in", token=token[:200],
                    form_token=ftoken)
        resp.cookies.append(cookie)
        return resp

    @post("/verify-email")
    async def verify_email(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request, csrf=False)
        check_form_token(request, form)
        async with runtime_of(request).pool.connection() as conn, conn.transaction():
            user_id = await service.verify_email(conn, form.get("token")[:200])
        if user_id is None:
            return redirect("/login", "This confirmation link is unknown, used or older than "
                            "a day: log in and ask for a new one on your account page.",
                            error=True)
        runtime_of(request).forget_user(user_id)
        return await _log_in(request, user_id, "/", "Email confirmed: welcome! Search for an "
                             "event to watch.")

    @get("/login", name="web:login")
    async def login_form(self, request: Request[Any, Any, Any],
                         next: FromQuery[str | None] = None) -> Template:
        token, cookie = form_token(request)
        resp = page(request, "login.html", title="Log in", next=safe_next(next),
                    form_token=token)
        resp.cookies.append(cookie)
        return resp

    @post("/login")
    async def login(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request, csrf=False)
        nxt = safe_next(form.get("next"))
        try:
            check_form_token(request, form)
            row = await service.authenticate(runtime_of(request), form.get("email")[:254],
                                             form.get("password")[:256],
                                             request.client.host if request.client else None)
        except ApiError as err:
            return redirect(f"/login?next={nxt}", err.detail, error=True)
        return await _log_in(request, row.id, nxt, "You are logged in.")

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        await read_form(request)
        user = need_user(request)
        if user.session_hash:
            async with runtime_of(request).pool.connection() as conn:
                await accounts.delete_session(conn, user.session_hash)
        runtime_of(request).forget_user(user.user_id)
        resp = redirect("/", "You are logged out.")
        resp.delete_cookie(SESSION_COOKIE, path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/")
        return resp

    @get("/forgot", name="web:forgot")
    async def forgot_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "forgot.html", title="Reset your password")

    @post("/forgot")
    async def forgot(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request, csrf=False)
        await service.send_reset_link(runtime_of(request), form.get("email")[:254])
        return redirect("/login", "If an account uses that email, a reset link is on its way "
                        "(it works for one hour).")

    @get("/reset-password", name="web:reset")
    async def reset_form(self, request: Request[Any, Any, Any],
                         token: FromQuery[str] = "") -> Template:
        return page(request, "reset.html", title="Choose a new password", token=token)

    @post("/reset-password")
    async def reset(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request, csrf=False)
        runtime = runtime_of(request)
        try:
            password = _check(form.get("password"), Password, "password")
            async with runtime.pool.connection() as conn, conn.transaction():
                user_id = await service.reset_password(conn, form.get("token"), password)
            if user_id is None:
                raise Unauthorized("This reset link is unknown, used or older than one "
                                   "hour: ask for a new one.")
        except ApiError as err:
            return redirect(f"/reset-password?token={quote(form.get('token'))}", err.detail,
                            error=True)
        runtime_of(request).forget_user(user_id)
        return redirect("/login", "Password changed: log in with the new one.")

    @get("/account/keys/revoke-all", name="web:revoke-all")
    async def revoke_all_form(self, request: Request[Any, Any, Any],
                              token: FromQuery[str] = "") -> Template:
        ftoken, cookie = form_token(request)
        resp = page(request, "confirm.html", title="Revoke every API key",
                    text="Every API key of the account stops working at once; programs "
                    "using them need new keys.", action="/account/keys/revoke-all",
                    button="Revoke all API keys", token=token[:200], form_token=ftoken)
        resp.cookies.append(cookie)
        return resp

    @post("/account/keys/revoke-all")
    async def revoke_all(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request, csrf=False)
        check_form_token(request, form)
        async with runtime_of(request).pool.connection() as conn, conn.transaction():
            done = await service.revoke_all_keys(conn, form.get("token")[:200])
        if done is None:
            return redirect("/login", "This link is unknown, used or older than a day: log "
                            "in to revoke keys on your account page.", error=True)
        runtime_of(request).forget_user(done[0])
        return redirect("/login", f"Revoked {done[1]} API key(s).")

    @post("/account/email/verification")
    async def resend_verification(self, request: Request[Any, Any, Any]) -> Redirect:
        await read_form(request)
        user = need_user(request)
        if not await service.send_verification(runtime_of(request), user.user_id):
            return redirect("/account", "Several emails went to this address lately: wait a "
                            "few minutes, then ask again.", error=True)
        return redirect("/account", "A new confirmation link is on its way.")

    # --- the account page -----------------------------------------------------------------

    @get("/account", name="web:account")
    async def account(self, request: Request[Any, Any, Any]) -> Template:
        user = need_user(request)
        runtime = runtime_of(request)
        async with reads_of(request).connection() as conn:
            try:
                me = await accounts.get_user(conn, user.user_id)
            except StorageError as err:  # deleted meanwhile: this router's error page says so
                raise from_storage(err) from err
            keys = await accounts.list_api_keys(conn, user.user_id)
            prefs = await accounts.alert_settings(conn, user.user_id)
            channels = await accounts.channel_states(conn, user.user_id)
            subscription = await billing_store.current_for_user(conn, user.user_id)
            picks_email = await recommendations_store.picks_email(conn, user.user_id)
        billing = {"enabled": billing_enabled(runtime.settings), "subscription": subscription}
        pending = await phone_mod.pending(runtime, user.user_id)
        new_key = request.cookies.get("ripcity_newkey")
        resp = page(request, "account.html", title="Your account", me=me, keys=keys,
                    picks_email=picks_email,
                    prefs=prefs, channels=channels, billing=billing, pending_phone=pending,
                    sms_ready=phone_mod.sms_configured(runtime.settings),
                    quiet={"quiet_start": me.quiet_start, "quiet_end": me.quiet_end},
                    new_key=new_key)
        if new_key:
            resp.cookies.append(Cookie(key="ripcity_newkey", value="", path="/account",
                                       max_age=0))
        return resp

    @post("/account/profile")
    async def profile(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        async with runtime_of(request).pool.connection() as conn:
            await accounts.update_user(conn, user.user_id,
                                       display_name=form.get("display_name")[:100] or None)
        return redirect("/account", "Profile saved.")

    @post("/account/notifications")
    async def notifications(self, request: Request[Any, Any, Any]) -> Redirect:
        """Email on/off, the time zone, and the account's quiet hours: every rule that follows
        the account and every rule created later keeps them (rules with quiet hours of their
        own keep theirs)."""
        form = await read_form(request)
        user = need_user(request)
        tz = form.get("timezone") or None
        try:
            start, end = decode_form(form, QuietHours).times()
        except ApiError as err:
            return redirect("/account#notifications", err.detail, error=True)
        if tz:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                return redirect("/account#notifications", f"{tz!r} is not a time zone such "
                                "as America/Los_Angeles.", error=True)
        if (start is None) != (end is None):
            return redirect("/account#notifications", "Quiet hours need both a start and an "
                            "end time (HH:MM), or neither.", error=True)
        email_on = form.get("email_alerts") == "on"
        async with runtime_of(request).pool.connection() as conn, conn.transaction():
            await accounts.set_account_quiet_hours(conn, user.user_id, start, end)
            await accounts.update_user(conn, user.user_id, timezone=tz)
            await accounts.set_opt_out(conn, user.user_id, "email", not email_on)
            await recommendations_store.set_picks_email(conn, user.user_id,
                                                        form.get("picks_email") == "on")
        return redirect("/account#notifications", "Notification settings saved.")

    @post("/account/phone")
    async def phone(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        try:
            await phone_mod.start(runtime_of(request), user.user_id, form.get("phone"))
        except ApiError as err:
            return redirect("/account#phone", err.detail, error=True)
        return redirect("/account#phone", "We texted you a 6-digit code: enter it below.")

    @post("/account/phone/verify")
    async def phone_verify(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        try:
            number = await phone_mod.confirm(runtime_of(request), user.user_id,
                                             form.get("code"))
        except ApiError as err:
            return redirect("/account#phone", err.detail, error=True)
        return redirect("/account#phone", f"Phone {number} verified: SMS alerts can use it.")

    @post("/account/keys")
    async def create_key(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        async with runtime_of(request).pool.connection() as conn:
            key, _ = await service.issue_api_key(conn, user.user_id,
                                                 form.get("name")[:100] or None)
        shown = Cookie(key="ripcity_newkey", value=key, path="/account", max_age=120,
                       httponly=True, samesite="strict")
        return redirect("/account#keys", "API key created: copy it now, it is shown once.",
                        cookies=[shown])

    @post("/account/keys/{key_id:int}/revoke")
    async def revoke_key(self, request: Request[Any, Any, Any],
                         key_id: FromPath[int]) -> Redirect:
        await read_form(request)
        user = need_user(request)
        try:
            async with runtime_of(request).pool.connection() as conn:
                await accounts.revoke_api_key(conn, user.user_id, key_id)
        except REFUSED as err:
            return redirect("/account#keys", refusal(err), error=True)
        runtime_of(request).forget_user(user.user_id)
        return redirect("/account#keys", "API key revoked.")

    @get("/account/upgrade", name="web:upgrade")
    async def upgrade(self, request: Request[Any, Any, Any],
                      interval: FromQuery[str] = "monthly") -> Redirect:
        """Off to Stripe Checkout (the plan changes when Stripe's webhook confirms)."""
        user = need_user(request)
        runtime = runtime_of(request)
        try:
            client = stripe_client(runtime.settings)
            async with runtime.pool.connection() as conn:
                session = await co.create_checkout(
                    conn, client, runtime.settings, user.user_id,
                    "annual" if interval == "annual" else "monthly",
                    user.plan.name == "premium")
        except ApiError as err:
            return redirect("/account#plan", err.detail, error=True)
        return Redirect(str(session.url), status_code=303)

    @post("/account/billing/portal")
    async def portal(self, request: Request[Any, Any, Any]) -> Redirect:
        await read_form(request)
        user = need_user(request)
        runtime = runtime_of(request)
        try:
            client = stripe_client(runtime.settings)
            async with runtime.pool.connection() as conn:
                session = await co.create_portal(conn, client, runtime.settings, user.user_id)
        except ApiError as err:
            return redirect("/account#plan", err.detail, error=True)
        return Redirect(str(session.url), status_code=303)

