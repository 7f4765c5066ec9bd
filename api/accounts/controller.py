"""Sign up, log in / out (session cookie), password change and reset, account deletion."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.lib.deps import RuntimeDep, UserDep
from api.lib.errors import ApiError, InvalidInput, NotFound, Unauthorized, Unavailable
from api.lib.mail import send_password_reset
from api.lib.ratelimit import CSRF_COOKIE, SESSION_COOKIE
from api.lib.security import hash_password, verify_password
from api.schemas.accounts import (
    Accepted,
    AccountUpdate,
    LogIn,
    PasswordChange,
    ResetConfirm,
    ResetRequest,
    Session,
    SignUp,
    User,
)
from api.services import accounts as svc
from api.services import owned

if TYPE_CHECKING:
    from datetime import datetime

logger = logging.getLogger(__name__)

_ERRORS = {401: None, 403: None, 404: None, 409: None, 422: None}


def _user(row: dict[str, Any]) -> User:
    return User(id=row["id"], email=row["email"], display_name=row["display_name"],
                phone=row["phone"], plan=row["plan"], created_at=row["created_at"],
                timezone=row.get("timezone"), quiet_start=row.get("quiet_start"),
                quiet_end=row.get("quiet_end"))


def _check_account_update(data: AccountUpdate) -> None:
    if (data.quiet_start is None) != (data.quiet_end is None):
        raise InvalidInput("Quiet hours need both quiet_start and quiet_end",
                           errors=[{"field": "quiet_end", "message": "set both or neither"}])
    if data.timezone is not None:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(data.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"timezone {data.timezone!r} is not an IANA time zone such as "
                               "America/Los_Angeles",
                               errors=[{"field": "timezone", "message": "unknown zone"}]
                               ) from None


async def end_subscriptions(runtime: RuntimeDep, user_id: int) -> None:
    """Cancel the user's live Stripe subscriptions now, before the account is deleted.

    Raises a 503 problem (retry) when Stripe cannot be reached or refuses: deleting the
    account anyway would leave Stripe billing a person who can no longer log in to stop it.
    A subscription Stripe no longer has is already over.
    """
    async with runtime.pool.connection() as conn:
        live = await svc.live_subscription_ids(conn, user_id)
    if not live:
        return
    from api.billing.client import billing_enabled, stripe_client

    if not billing_enabled(runtime.settings):
        logger.warning("deleting user %s with live Stripe subscriptions %s: STRIPE_API_KEY "
                       "is not set, so they were not canceled", user_id, live)
        return
    from api.billing.checkout import cancel_now

    client = stripe_client(runtime.settings)
    for sub_id in live:
        try:
            await cancel_now(client, sub_id)
        except NotFound:
            continue  # Stripe has no such live subscription: nothing left to bill
        except ApiError as err:
            raise Unavailable(
                "Your account was not deleted: your premium subscription must end first and "
                f"Stripe did not confirm it ({err.detail}). Nothing was changed; retry the "
                "deletion in a minute.", headers={"Retry-After": "60"}) from err


def _cookies(runtime: RuntimeDep, token: str, csrf: str, expires: datetime) -> list[Cookie]:
    secure = runtime.settings.public_url.startswith("https://")
    max_age = int((expires.timestamp()) - __import__("time").time())
    return [
        Cookie(key=SESSION_COOKIE, value=token, httponly=True, samesite="lax", secure=secure,
               max_age=max_age, path="/"),
        Cookie(key=CSRF_COOKIE, value=csrf, httponly=False, samesite="lax", secure=secure,
               max_age=max_age, path="/"),
    ]


async def _start_session(runtime: RuntimeDep, request: Request[Any, Any, Any],
                         row: dict[str, Any], status: int) -> Response[Session]:
    async with runtime.pool.connection() as conn:
        token, csrf, expires = await svc.create_session(conn, row["id"],
                                                        request.headers.get("user-agent"))
    return Response(Session(user=_user(row), csrf_token=csrf, expires_at=expires),
                    status_code=status, cookies=_cookies(runtime, token, csrf, expires))


class AuthController(Controller):
    """Create an account and open or close a browser session."""

    path = "/auth"
    tags = ["accounts"]

    @post("/signup", status_code=201, summary="Create an account (and log in)")
    async def signup(self, data: JSONBody[SignUp], runtime: RuntimeDep,
                     request: Request[Any, Any, Any]) -> Response[Session]:
        async with runtime.pool.connection() as conn:
            row = await svc.create_user(conn, data.email, hash_password(data.password),
                                        data.display_name)
        return await _start_session(runtime, request, row, 201)

    @post("/login", status_code=HTTP_200_OK, summary="Log in: sets the session cookie")
    async def login(self, data: JSONBody[LogIn], runtime: RuntimeDep,
                    request: Request[Any, Any, Any]) -> Response[Session]:
        async with runtime.pool.connection() as conn:
            row = await svc.find_user_by_email(conn, data.email)
        if row is None or not verify_password(row["password_hash"], data.password):
            raise Unauthorized("Wrong email or password: check both, or reset the password "
                               "with POST /api/v1/auth/password-reset.")
        return await _start_session(runtime, request, row, 200)

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End this browser session")
    async def logout(self, user: UserDep, runtime: RuntimeDep) -> Response[None]:
        if user.session_hash is not None:
            async with runtime.pool.connection() as conn:
                await svc.delete_session(conn, user.session_hash)
            assert runtime.principals is not None
            runtime.principals.forget(user_id=user.user_id)
        resp: Response[None] = Response(None, status_code=204)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/")
        return resp

    @post("/password-reset", status_code=HTTP_202_ACCEPTED,
          summary="Email a password reset token (always 202, whether or not the email exists)")
    async def password_reset(self, data: JSONBody[ResetRequest], runtime: RuntimeDep) -> Accepted:
        async with runtime.pool.connection() as conn:
            row = await svc.find_user_by_email(conn, data.email)
            token = await svc.create_reset(conn, row["id"]) if row else None
        if row is not None and token is not None:
            await send_password_reset(runtime.settings, row["email"], token)
        return Accepted(detail="If an account uses that email, a reset link is on its way; "
                               "it works for one hour.")

    @post("/password-reset/confirm", status_code=HTTP_204_NO_CONTENT,
          summary="Set a new password with the emailed token")
    async def password_reset_confirm(self, data: JSONBody[ResetConfirm],
                                     runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn, conn.transaction():
            user_id = await svc.consume_reset(conn, data.token)
            if user_id is None:
                raise Unauthorized("This reset token is unknown, used or older than one hour: "
                                   "request a new one with POST /api/v1/auth/password-reset.")
            await svc.set_password(conn, user_id, hash_password(data.new_password))
        assert runtime.principals is not None
        runtime.principals.forget(user_id=user_id)


class AccountController(Controller):
    """The caller's own account."""

    path = "/account"
    tags = ["accounts"]

    @get("/", summary="The caller's account and plan")
    async def me(self, user: UserDep, runtime: RuntimeDep) -> User:
        async with runtime.pool.connection() as conn:
            return _user(await svc.get_user(conn, user.user_id))

    @patch("/", summary="Change display name, phone (E.164, for SMS alerts), time zone or "
           "the default quiet hours of your alert rules")
    async def update(self, data: JSONBody[AccountUpdate],
                     user: UserDep, runtime: RuntimeDep) -> User:
        """Quiet hours apply to every rule that follows the account (created without quiet
        hours of its own) and to rules created later."""
        _check_account_update(data)
        fields = {k: getattr(data, k) for k in ("display_name", "phone")
                  if getattr(data, k) is not None}
        async with runtime.pool.connection() as conn, conn.transaction():
            if data.quiet_start is not None:
                await owned.set_account_quiet_hours(conn, user.user_id, data.quiet_start,
                                                    data.quiet_end)
            if data.timezone is not None:
                fields["timezone"] = data.timezone
            await svc.update_user(conn, user.user_id, fields)
            return _user(await svc.get_user(conn, user.user_id))

    @post("/password", status_code=HTTP_204_NO_CONTENT,
          summary="Change password (ends every session; API keys keep working)")
    async def change_password(self, data: JSONBody[PasswordChange], user: UserDep,
                              runtime: RuntimeDep) -> Response[None]:
        async with runtime.pool.connection() as conn, conn.transaction():
            row = await svc.get_user(conn, user.user_id)
            if not verify_password(row["password_hash"], data.current_password):
                raise Unauthorized("current_password is wrong; if you forgot it, use "
                                   "POST /api/v1/auth/password-reset.")
            await svc.set_password(conn, user.user_id, hash_password(data.new_password))
        assert runtime.principals is not None
        runtime.principals.forget(user_id=user.user_id)
        resp: Response[None] = Response(None, status_code=204)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @delete("/", status_code=HTTP_204_NO_CONTENT,
            summary="Delete the account with all its data (keys, watchlists, rules, alerts); "
            "a premium subscription is canceled at Stripe first (503 = retry)")
    async def remove(self, user: UserDep, runtime: RuntimeDep) -> Response[None]:
        """A premium subscription is canceled at Stripe first (no more charges); if Stripe
        cannot be reached the account stays and the answer is 503: retry."""
        await end_subscriptions(runtime, user.user_id)
        async with runtime.pool.connection() as conn:
            await svc.delete_user(conn, user.user_id)
        assert runtime.principals is not None
        runtime.principals.forget(user_id=user.user_id)
        resp: Response[None] = Response(None, status_code=204)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/")
        return resp
