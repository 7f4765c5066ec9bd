"""OpenAPI: document the problem+json errors every operation can answer with.

Litestar documents a 400 with its own error shape; our errors are RFC 9457 problems
(validation is 422), so after the app is built every operation's responses are rewritten
to name the statuses it can really return, so a generated client knows each body.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference, Schema

from api.lib.errors import PROBLEM_JSON

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.openapi.spec import OpenAPI

_DESCRIPTIONS = {
    "400": "The body could not be read (not JSON, or the wrong Content-Type) (problem details)",
    "401": "Authentication required or credentials invalid (problem details)",
    "403": "Forbidden: CSRF token missing, premium feature, or plan limit (problem details)",
    "404": "Not found (problem details)",
    "409": "Conflict with existing data (problem details)",
    "422": "Invalid input: `errors` names each field (problem details)",
    "429": "Rate limited: see Retry-After and RateLimit-* headers (problem details)",
    "500": "Unexpected error, logged with a reference (problem details)",
    "503": "Temporarily unavailable: the database is unreachable, or the feature is not "
           "configured on this server (problem details)",
}

_PROBLEM_SCHEMA = Schema(
    type="object",  # type: ignore[arg-type]
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type="string"),  # type: ignore[arg-type]
        "title": Schema(type="string"),  # type: ignore[arg-type]
        "status": Schema(type="integer"),  # type: ignore[arg-type]
        "detail": Schema(type="string"),  # type: ignore[arg-type]
        "instance": Schema(type="string"),  # type: ignore[arg-type]
        "upgrade_url": Schema(type="string"),  # type: ignore[arg-type]
        "retry_after": Schema(type="integer"),  # type: ignore[arg-type]
        "errors": Schema(type="array", items=Schema(  # type: ignore[arg-type]
            type="object", required=["field", "message"],  # type: ignore[arg-type]
            properties={"field": Schema(type="string"),  # type: ignore[arg-type]
                        "message": Schema(type="string"),  # type: ignore[arg-type]
                        "source": Schema(type="string")})),  # type: ignore[arg-type]
    },
)


def _statuses(path: str, method: str, secured: bool, has_body: bool) -> list[str]:
    if path in ("/healthz", "/metrics"):
        return ["500"]
    if path == "/readyz":
        return ["500", "503"]
    out = ["401", "404", "422", "429", "500", "503"]
    if secured or method in ("post", "patch", "put", "delete"):
        out += ["403", "409"]
    if has_body:
        out.append("400")
    return out


#: who may call an operation: an API key or a session cookie (the CSRF header with it)
USER = [{"apiKey": []}, {"session": []}]
#: the same, or nobody (anonymous callers get the public view)
OPTIONAL_USER = [{}, *USER]
_WEBHOOK_400 = ("The delivery was refused: Stripe-Signature missing, forged, older or newer "
                "than the tolerance, or the body is not a Stripe event (problem details)")


def _callers(app: Litestar) -> dict[tuple[str, str], list[dict[str, list[str]]]]:
    """(OpenAPI path, method) -> its security requirement, from each handler's signature: a
    handler taking ``user`` needs an account, one taking ``principal`` can use one."""
    out: dict[tuple[str, str], list[dict[str, list[str]]]] = {}
    for route in app.routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            params: dict[str, Any] = handler.parsed_fn_signature.parameters
            needs, can = "user" in params, "principal" in params
            for method in getattr(handler, "http_methods", ()):
                if needs:
                    out[(path, method.lower())] = USER
                elif can:
                    out[(path, method.lower())] = OPTIONAL_USER
    return out


def add_problem_responses(app: Litestar) -> None:
    """Rewrite the generated document in place (call once, after the app is built)."""
    from litestar._openapi.plugin import OpenAPIPlugin

    openapi: OpenAPI = app.plugins.get(OpenAPIPlugin).provide_openapi()
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["Problem"] = _PROBLEM_SCHEMA
    ref = Reference(ref="#/components/schemas/Problem")
    callers = _callers(app)
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "patch", "put", "delete"):
            op = getattr(item, method, None)
            if op is None:
                continue
            responses = op.responses or {}
            responses.pop("400", None)
            no_content = responses.get("204")
            if isinstance(no_content, OpenAPIResponse):  # Response[None] documents a body
                no_content.content = None
            params = {p.name for p in op.parameters or [] if hasattr(p, "name")}
            secured = not path.startswith(("/api/v1/events", "/api/v1/deals",
                                           "/api/v1/refresh-requests")) or "refresh" in path
            has_body = op.request_body is not None
            for status in _statuses(path, method, secured or bool(params), has_body):
                responses.setdefault(status, OpenAPIResponse(
                    description=_DESCRIPTIONS[status],
                    content={PROBLEM_JSON: OpenAPIMediaType(schema=ref)}))
            if path == "/webhooks/stripe":
                responses["400"] = OpenAPIResponse(
                    description=_WEBHOOK_400,
                    content={PROBLEM_JSON: OpenAPIMediaType(schema=ref)})
            if op.security is None and (path, method) in callers:
                op.security = callers[(path, method)]
            op.responses = responses
