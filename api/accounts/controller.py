"""The account endpoints: sign up and verify the email, log in / out (session cookie), the
caller's account (profile, phone, quiet hours, password, deletion) and their API keys."""

from __future__ import annotations

import logging
import zoneinfo
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.accounts import phone, service
from api.accounts.schemas import (
    Accepted,
    AccountDelete,
    AccountUpdate,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    EmailToken,
    LogIn,
    PasswordChange,
    PhoneCode,
    PhonePending,
    PhoneStart,
    ResetConfirm,
    ResetRequest,
    Session,
    SignUp,
    User,
)
from api.billing.checkout import end_subscriptions
from api.lib.deps import ReadsDep, RuntimeDep, UserDep
from api.lib.errors import InvalidInput, TooManyRequests, Unauthorized
from api.lib.ratelimit import CSRF_COOKIE, SESSION_COOKIE
from storage import accounts

logger = logging.getLogger(__name__)

KeyId = Annotated[int, Parameter(ge=1, le=2**62, description="API key id")]


def _user(row: accounts.User) -> User:
    return msgspec.convert(row, User, from_attributes=True)


def _check_account_update(data: AccountUpdate) -> None:
    if data.phone is not None:
        raise InvalidInput("A phone number is saved only once its owner typed the code we "
                           "text to it: POST /api/v1/account/phone {\"phone\": ...}, then "
                           "POST /api/v1/account/phone/verify {\"code\": ...}",
                           errors=[{"field": "phone", "message": "verify it instead"}])
    if (data.quiet_start is None) != (data.quiet_end is None):
        raise InvalidInput("Quiet hours need both quiet_start and quiet_end",
                           errors=[{"field": "quiet_end", "message": "set both or neither"}])
    if data.timezone is not None:
        try:
            zoneinfo.ZoneInfo(data.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"timezone {data.timezone!r} is not an IANA time zone such as "
                               "America/Los_Angeles",
                               errors=[{"field": "timezone", "message": "unknown zone"}]
                               ) from None


def _without_cookies(*names: str) -> Response[None]:
    resp: Response[None] = Response(None, status_code=204)
    for name in names:
        resp.delete_cookie(name, path="/")
    return resp


async def _start_session(runtime: RuntimeDep, request: Request[Any, Any, Any],
                         row: accounts.User, status: int) -> Response[Session]:
    async with runtime.pool.connection() as conn:
        token, csrf, expires = await service.open_session(conn, row.id,
                                                          request.headers.get("user-agent"))
    return Response(Session(user=_user(row), csrf_token=csrf, expires_at=expires),
                    status_code=status,
                    cookies=service.session_cookies(runtime.settings, token, csrf, expires))


class AuthController(Controller):
    """Create an account and open or close a browser session."""

    path = "/auth"
    tags = ["accounts"]

    @post("/signup", status_code=HTTP_202_ACCEPTED,
          summary="Create an account: a link to confirm the email is sent (always 202, "
          "whether or not the address has an account)")
    async def signup(self, data: JSONBody[SignUp], runtime: RuntimeDep) -> Accepted:
        """The emailed link (or its token sent to POST /api/v1/auth/verify-email) confirms
        the address and logs in; an address that already has an account gets a note
        saying so instead, so this answer never tells whether an address is registered."""
        await service.sign_up(runtime, data.email, data.password, data.display_name)
        return Accepted(detail="Check your inbox: we sent a link to confirm the address "
                               "(valid for a day). No alert or notice goes to it before.")

    @post("/verify-email", status_code=HTTP_200_OK,
          summary="Confirm the email with the emailed token: logs in")
    async def verify_email(self, data: JSONBody[EmailToken], runtime: RuntimeDep,
                           request: Request[Any, Any, Any]) -> Response[Session]:
        async with runtime.pool.connection() as conn, conn.transaction():
            user_id = await service.verify_email(conn, data.token)
            row = None if user_id is None else await accounts.get_user(conn, user_id)
        if row is None:
            raise Unauthorized("This verification token is unknown, used or older than a "
                               "day: log in and ask for a new one with POST "
                               "/api/v1/account/email/verification.")
        runtime.forget_user(row.id)
        return await _start_session(runtime, request, row, 200)

    @post("/login", status_code=HTTP_200_OK, summary="Log in: sets the session cookie "
          "(failures slow further tries per account and per address: 429 + Retry-After)")
    async def login(self, data: JSONBody[LogIn], runtime: RuntimeDep,
                    request: Request[Any, Any, Any]) -> Response[Session]:
        row = await service.authenticate(runtime, data.email, data.password,
                                         request.client.host if request.client else None)
        return await _start_session(runtime, request, row, 200)

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End this browser session")
    async def logout(self, user: UserDep, runtime: RuntimeDep) -> Response[None]:
        if user.session_hash is not None:
            async with runtime.pool.connection() as conn:
                await accounts.delete_session(conn, user.session_hash)
            runtime.forget_user(user.user_id)
        return _without_cookies(SESSION_COOKIE, CSRF_COOKIE)

    @post("/password-reset", status_code=HTTP_202_ACCEPTED,
          summary="Email a password reset token (always 202, whether or not the email exists)")
    async def password_reset(self, data: JSONBody[ResetRequest], runtime: RuntimeDep) -> Accepted:
        await service.send_reset_link(runtime, data.email)
        return Accepted(detail="If an account uses that email, a reset link is on its way; "
                               "it works for one hour.")

    @post("/password-reset/confirm", status_code=HTTP_204_NO_CONTENT,
          summary="Set a new password with the emailed token")
    async def password_reset_confirm(self, data: JSONBody[ResetConfirm],
                                     runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn, conn.transaction():
            user_id = await service.reset_password(conn, data.token, data.new_password)
        if user_id is None:
            raise Unauthorized("This reset token is unknown, used or older than one hour: "
                               "request a new one with POST /api/v1/auth/password-reset.")
        runtime.forget_user(user_id)

    @post("/revoke-api-keys", status_code=HTTP_200_OK,
          summary="Revoke every API key with the token from a password reset email")
    async def revoke_api_keys(self, data: JSONBody[EmailToken], runtime: RuntimeDep) -> Accepted:
        async with runtime.pool.connection() as conn, conn.transaction():
            done = await service.revoke_all_keys(conn, data.token)
        if done is None:
            raise Unauthorized("This link is unknown, used or older than a day: log in and "
                               "revoke keys with DELETE /api/v1/api-keys/{id}.")
        runtime.forget_user(done[0])
        return Accepted(detail=f"Revoked {done[1]} API key(s).")


class AccountController(Controller):
    """The caller's own account."""

    path = "/account"
    tags = ["accounts"]

    @get("/", summary="The caller's account and plan")
    async def me(self, user: UserDep, runtime: RuntimeDep, reads: ReadsDep) -> User:
        async with reads.connection() as conn:
            return _user(await accounts.get_user(conn, user.user_id))

    @patch("/", summary="Change display name, phone (E.164, for SMS alerts), time zone or "
           "the default quiet hours of your alert rules")
    async def update(self, data: JSONBody[AccountUpdate],
                     user: UserDep, runtime: RuntimeDep) -> User:
        """Quiet hours apply to every rule that follows the account (created without quiet
        hours of its own) and to rules created later."""
        _check_account_update(data)
        fields = {k: getattr(data, k) for k in ("display_name", "phone", "timezone")
                  if getattr(data, k) is not None}
        async with runtime.pool.connection() as conn, conn.transaction():
            if data.quiet_start is not None:
                await accounts.set_account_quiet_hours(conn, user.user_id, data.quiet_start,
                                                       data.quiet_end)
            await accounts.update_user(conn, user.user_id, **fields)
            return _user(await accounts.get_user(conn, user.user_id))

    @post("/password", status_code=HTTP_204_NO_CONTENT,
          summary="Change password (ends every session and reset link; API keys keep "
          "working)")
    async def change_password(self, data: JSONBody[PasswordChange], user: UserDep,
                              runtime: RuntimeDep) -> Response[None]:
        async with runtime.pool.connection() as conn, conn.transaction():
            await service.change_password(conn, user.user_id, data.current_password,
                                          data.new_password)
        runtime.forget_user(user.user_id)
        return _without_cookies(SESSION_COOKIE)

    @post("/email/verification", status_code=HTTP_202_ACCEPTED,
          summary="Email a new link confirming the account's address")
    async def resend_verification(self, user: UserDep, runtime: RuntimeDep) -> Accepted:
        if not await service.send_verification(runtime, user.user_id):
            raise TooManyRequests("Several emails went to this address lately: wait a few "
                                  "minutes, then ask again.")
        return Accepted(detail="A new link is on its way (valid for a day).")

    @post("/phone", status_code=HTTP_202_ACCEPTED,
          summary="Text a 6-digit code to a number; it is saved once the code comes back")
    async def start_phone(self, data: JSONBody[PhoneStart], user: UserDep,
                          runtime: RuntimeDep) -> PhonePending:
        number = await phone.start(runtime, user.user_id, data.phone)
        return PhonePending(phone=number, detail="We texted a 6-digit code: send it to POST "
                            "/api/v1/account/phone/verify within 10 minutes.")

    @post("/phone/verify", status_code=HTTP_200_OK,
          summary="Confirm the texted code: the number is saved for SMS alerts (and leaves "
          "any other account that had it)")
    async def verify_phone(self, data: JSONBody[PhoneCode], user: UserDep,
                           runtime: RuntimeDep) -> User:
        await phone.confirm(runtime, user.user_id, data.code)
        async with runtime.pool.connection() as conn:
            return _user(await accounts.get_user(conn, user.user_id))

    @delete("/phone", status_code=HTTP_204_NO_CONTENT, summary="Remove the phone number")
    async def remove_phone(self, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await accounts.clear_phone(conn, user.user_id)

    @delete("/", status_code=HTTP_204_NO_CONTENT,
            summary="Delete the account with all its data (keys, watchlists, rules, alerts); "
            "needs the password (or a browser login in the last 10 minutes); a premium "
            "subscription is canceled at Stripe first (503 = retry)")
    async def remove(self, user: UserDep, runtime: RuntimeDep,
                     data: JSONBody[AccountDelete | None] = None) -> Response[None]:
        """An API key alone cannot delete the account: send the password. A premium
        subscription is canceled at Stripe first (no more charges); if Stripe cannot be
        reached the account stays and the answer is 503: retry."""
        async with runtime.pool.connection() as conn:
            await service.confirm_identity(conn, user.user_id, data.password if data else None,
                                           user.logged_in_at if user.via == "session" else None)
        await end_subscriptions(runtime, user.user_id)
        async with runtime.pool.connection() as conn:
            await accounts.delete_user(conn, user.user_id)
        runtime.forget_user(user.user_id)
        return _without_cookies(SESSION_COOKIE, CSRF_COOKIE)


class ApiKeyController(Controller):
    """API keys of the caller: create (shown once), list, revoke."""

    path = "/api-keys"
    tags = ["api keys"]

    @post("/", summary="Create an API key; the key is in this response only")
    async def create(self, user: UserDep, runtime: RuntimeDep,
                     data: JSONBody[ApiKeyCreate | None] = None) -> ApiKeyCreated:
        async with runtime.pool.connection() as conn:
            key, row = await service.issue_api_key(conn, user.user_id,
                                                   data.name if data else None)
        return ApiKeyCreated(id=row.id, name=row.name, prefix=row.prefix, key=key,
                             created_at=row.created_at)

    @get("/", summary="The caller's API keys (without the secret)")
    async def list_keys(self, user: UserDep, runtime: RuntimeDep, reads: ReadsDep) -> list[ApiKey]:
        async with reads.connection() as conn:
            rows = await accounts.list_api_keys(conn, user.user_id)
        return [msgspec.convert(r, ApiKey, from_attributes=True) for r in rows]

    @delete("/{key_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Revoke an API key")
    async def revoke(self, key_id: KeyId, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await accounts.revoke_api_key(conn, user.user_id, key_id)
        runtime.forget_user(user.user_id)
