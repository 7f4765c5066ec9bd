"""The web dashboard: server-rendered pages (Jinja templates in ``api/templates``) with
light htmx enhancement; our static files in ``api/static``, third-party ones installed by npm
and served from ``/assets`` (:mod:`api.lib.assets`); no build step.

``ROUTE_HANDLERS`` is mounted at the root by the app factory (``api.app``). Errors on these
pages, storage's domain errors included, render as HTML (a page that says what to do), never
problem JSON, and pages that need an account send the visitor to the login form and back.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template

from api.lib.errors import ApiError, from_storage, moved_location
from api.web.common import LoginRequired, admin_of, login_url, page
from api.web.pages_account import AccountPages
from api.web.pages_alerts import AlertPages
from api.web.pages_ops import OpsPages
from api.web.pages_public import PublicPages
from api.web.pages_purchases import PurchasePages
from api.web.pages_saved import SavedSearchPages
from api.web.pages_setup import SetupPages
from api.web.pages_tracking import TrackingPages
from api.web.pages_valuation import ValuationPages
from api.web.pages_webhooks import WebhookPages
from storage.errors import StorageError


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Template | Redirect:
    if isinstance(exc, LoginRequired):
        return Redirect(login_url(request), status_code=303)
    if isinstance(exc, StorageError):
        location = moved_location(request, exc)
        if location is not None:  # a merged event's old page: to the survivor's
            return Redirect(location, status_code=308)
        exc = from_storage(exc)
    if isinstance(exc, ApiError):
        status, title, detail = exc.status_code, exc.title, exc.detail
    elif isinstance(exc, ValidationException):
        status, title = 400, "That search did not make sense"
        detail = ("Some values in the address are not valid (" +
                  "; ".join(str(e.get("key", "")) + ": " + str(e.get("message", ""))
                            for e in (exc.extra if isinstance(exc.extra, list) else [])
                            if isinstance(e, dict)) + "). Go back and change them.")
    elif isinstance(exc, HTTPException):
        status, title, detail = exc.status_code, "Something is not right", exc.detail
    else:
        raise exc
    return page(request, "error.html", status=status, title=title, detail=detail,
                code=status)


async def _look_up_admin(request: Request[Any, Any, Any]) -> None:
    """Before each page: whether the viewer is an admin (the layout's Ops link)."""
    await admin_of(request)


#: Root-mounted dashboard pages (excluded from the OpenAPI schema).
ROUTE_HANDLERS: list[Any] = [
    Router(path="/", route_handlers=[PublicPages, AccountPages, AlertPages, OpsPages,
                                     SetupPages, WebhookPages, PurchasePages,
                                     SavedSearchPages, TrackingPages, ValuationPages],
           exception_handlers={ApiError: _error_page, StorageError: _error_page,
                               HTTPException: _error_page},
           before_request=_look_up_admin, include_in_schema=False),
]
