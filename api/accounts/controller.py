"""The account endpoints: sign up, log in / out (session cookie), the caller's account
(profile, quiet hours, password, deletion) and their API keys."""

from __future__ import annotations

import logging
import zoneinfo
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.accounts import service
from api.accounts.schemas import (
    Accepted,
    AccountUpdate,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    LogIn,
    PasswordChange,
    ResetConfirm,
    ResetRequest,
    Session,
    SignUp,
    User,
)
from api.billing.checkout import end_subscriptions
from api.lib.deps import ReadsDep, RuntimeDep, UserDep
from api.lib.errors import InvalidInput, Unauthorized
from api.lib.ratelimit import CSRF_COOKIE, SESSION_COOKIE
from api.lib.security import hash_password, verify_password
from storage import accounts

logger = logging.getLogger(__name__)

KeyId = Annotated[int, Parameter(ge=1, le=2**62, description="API key id")]


def _user(row: accounts.User) -> User:
    return msgspec.convert(row, User, from_attributes=True)


def _check_account_update(data: AccountUpdate) -> None:
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

    @post("/signup", status_code=201, summary="Create an account (and log in)")
    async def signup(self, data: JSONBody[SignUp], runtime: RuntimeDep,
                     request: Request[Any, Any, Any]) -> Response[Session]:
        async with runtime.pool.connection() as conn:
            row = await accounts.create_user(conn, data.email, hash_password(data.password),
                                             data.display_name)
        return await _start_session(runtime, request, row, 201)

    @post("/login", status_code=HTTP_200_OK, summary="Log in: sets the session cookie")
    async def login(self, data: JSONBody[LogIn], runtime: RuntimeDep,
                    request: Request[Any, Any, Any]) -> Response[Session]:
        async with runtime.pool.connection() as conn:
            row = await service.authenticate(conn, data.email, data.password)
        if row is None:
            raise Unauthorized("Wrong email or password: check both, or reset the password "
                               "with POST /api/v1/auth/password-reset.")
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
        await service.send_reset_link(runtime.pool, runtime.settings, data.email)
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
          summary="Change password (ends every session; API keys keep working)")
    async def change_password(self, data: JSONBody[PasswordChange], user: UserDep,
                              runtime: RuntimeDep) -> Response[None]:
        async with runtime.pool.connection() as conn, conn.transaction():
            row = await accounts.get_user(conn, user.user_id)
            if not verify_password(row.password_hash, data.current_password):
                raise Unauthorized("current_password is wrong; if you forgot it, use "
                                   "POST /api/v1/auth/password-reset.")
            await accounts.set_password(conn, user.user_id, hash_password(data.new_password))
        runtime.forget_user(user.user_id)
        return _without_cookies(SESSION_COOKIE)

    @delete("/", status_code=HTTP_204_NO_CONTENT,
            summary="Delete the account with all its data (keys, watchlists, rules, alerts); "
            "a premium subscription is canceled at Stripe first (503 = retry)")
    async def remove(self, user: UserDep, runtime: RuntimeDep) -> Response[None]:
        """A premium subscription is canceled at Stripe first (no more charges); if Stripe
        cannot be reached the account stays and the answer is 503: retry."""
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
