"""Authentication dependencies and guards.

The rate-limit middleware has already resolved the caller (API key or session cookie);
these read the result. Browser sessions must echo their CSRF token in ``X-CSRF-Token`` on
every state-changing request and, when the browser names the page's ``Origin``, come from
this site (API-key calls are not cookie-borne, so they need neither). Every write to the
JSON API must say ``Content-Type: application/json``: a cross-site HTML form can send only
form encodings and ``text/plain``, so it cannot reach a JSON endpoint at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request

from api.lib.errors import Forbidden, PremiumRequired, Unauthorized, UnsupportedMediaType
from api.lib.security import same
from api.plans import UPGRADE_PATH

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler

    from api.lib.principals import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def same_origin(connection: ASGIConnection[Any, Any, Any, Any], public_url: str) -> bool:
    """Whether the request's ``Origin`` (if the browser sent one) is this site: the public
    URL or the host the request was sent to."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET-like request
    origin = origin.rstrip("/").lower()
    scheme = connection.url.scheme
    host = connection.headers.get("host", "")
    allowed = {_origin_of(public_url), f"{scheme}://{host}".lower()}
    return origin in allowed


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}".lower()


def check_origin(connection: ASGIConnection[Any, Any, Any, Any], public_url: str) -> None:
    if not same_origin(connection, public_url):
        raise Forbidden(
            f"This request comes from another site ({connection.headers.get('origin')}): "
            "a browser session can only be used from this site's own pages. Programs use an "
            "API key instead.")


async def require_json(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of the JSON API: a write with a body must be JSON (415 if not)."""
    if request.method in SAFE_METHODS:
        return
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"This API reads JSON: send the body with `Content-Type: application/json` "
            f"(got {media or 'no content type'!r}).")


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    state = connection.scope.get("state") or {}
    principal: Principal | None = state.get("principal")
    return principal


async def provide_principal(request: Request[Any, Any, Any]) -> Principal | None:
    """The caller if authenticated, else None (public endpoints)."""
    return principal_of(request)


async def provide_user(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller; 401 if anonymous, 403 on a session without its CSRF token."""
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized(
            "This endpoint needs an account: send `Authorization: Bearer <api key>` "
            "(create one with POST /api/v1/api-keys after logging in), or log in with "
            "POST /api/v1/auth/login to get a session cookie.")
    if principal.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if not sent or not principal.csrf_token or not same(sent, principal.csrf_token):
            raise Forbidden(
                "Missing or wrong CSRF token: browser sessions must send the value of the "
                "`ripcity_csrf` cookie (also returned by login) in the X-CSRF-Token header "
                "on every POST, PATCH, PUT and DELETE.")
        check_origin(request, request.app.state.runtime.settings.public_url)
    return principal


def requires_premium(connection: ASGIConnection[Any, Any, Any, Any],
                     _: BaseRouteHandler) -> None:
    """Guard: premium accounts only; others get a problem saying how to upgrade."""
    principal = principal_of(connection)
    if principal is None:
        raise Unauthorized("This premium feature needs an account: log in or send an API key.")
    if principal.plan.name != "premium":
        raise PremiumRequired(
            f"This is a premium feature and your account is on the {principal.plan.name} "
            f"plan. Upgrade with POST {UPGRADE_PATH} (Stripe Checkout), then retry.",
            upgrade_url=UPGRADE_PATH)
