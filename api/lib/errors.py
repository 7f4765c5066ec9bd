"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Handlers raise :class:`ApiError` subclasses (or Litestar's HTTP exceptions); one set of
exception handlers renders them. Validation errors name each offending field under
``errors``; anything unexpected becomes a 500 problem that says where to look (the log, by
the request id) without leaking internals.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Response
from litestar.exceptions import HTTPException, ValidationException

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://ripcity.dev/problems/"


class FieldError(msgspec.Struct, omit_defaults=True):
    """One invalid input: which field (query, path, body) and what is wrong with it."""

    field: str
    message: str
    source: str | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem details body."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    upgrade_url: str | None = None
    retry_after: int | None = None


class ApiError(Exception):
    """An error with an HTTP meaning; ``detail`` must tell the caller what to do."""

    status_code = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class NotFound(ApiError):
    status_code, slug, title = 404, "not-found", "Not found"


class Moved(ApiError):
    """A merged event: 308 to the survivor, same method and query (``Location``)."""

    status_code, slug, title = 308, "moved", "Moved permanently"


class Conflict(ApiError):
    status_code, slug, title = 409, "conflict", "Conflict"


class Unauthorized(ApiError):
    status_code, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="ripcity"'})
        super().__init__(detail, **kw)


class Forbidden(ApiError):
    status_code, slug, title = 403, "forbidden", "Forbidden"


class PremiumRequired(ApiError):
    """A premium feature on a free plan (403 with an ``upgrade_url``)."""

    status_code, slug, title = 403, "premium-required", "Premium plan required"


class PlanLimit(ApiError):
    status_code, slug, title = 403, "plan-limit", "Plan limit reached"


class InvalidInput(ApiError):
    status_code, slug, title = 422, "validation-error", "Invalid input"


class TooManyRequests(ApiError):
    status_code, slug, title = 429, "rate-limited", "Too many requests"


class UnsupportedMediaType(ApiError):
    status_code, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unavailable(ApiError):
    status_code, slug, title = 503, "unavailable", "Service unavailable"


def problem_response(status: int, slug: str, title: str, detail: str, *,
                     instance: str | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> Response[bytes]:
    body = Problem(type=_TYPE_BASE + slug, title=title, status=status, detail=detail,
                   instance=instance, **extra)
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM_JSON,
                    headers=headers)


def problem_bytes(status: int, slug: str, title: str, detail: str, **extra: Any) -> bytes:
    """The encoded body, for raw ASGI middleware that answers before routing."""
    return msgspec.json.encode(Problem(type=_TYPE_BASE + slug, title=title, status=status,
                                       detail=detail, **extra))


def _field_errors(exc: ValidationException) -> list[FieldError]:
    out: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "body")
        message = str(item.get("message") or "invalid value")
        source = item.get("source")
        if key == "data" and " - at `$." in message:  # msgspec body error: name the field
            message, _, where = message.partition(" - at `$.")
            key = where.rstrip("`")
        out.append(FieldError(field=key, message=message,
                              source=str(source) if source else None))
    return out


def _handle_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    return problem_response(exc.status_code, exc.slug, exc.title, exc.detail,
                            instance=request.url.path, headers=exc.headers, **exc.extra)


def _handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if isinstance(exc, ValidationException) or (status == 400 and exc.extra):
        errors = _field_errors(exc) if isinstance(exc, ValidationException) else None
        names = ", ".join(e.field for e in errors or []) or "the request"
        detail = f"Invalid value for {names}: " + "; ".join(
            f"{e.field}: {e.message}" for e in errors or []) if errors else exc.detail
        return problem_response(422, "validation-error", "Invalid input", detail,
                                instance=request.url.path, errors=errors or None)
    titles = {400: "Bad request", 401: "Authentication required", 403: "Forbidden",
              404: "Not found",
              405: "Method not allowed", 413: "Request body too large"}
    detail = exc.detail
    if status == 404 and detail in ("Not Found", ""):
        detail = (f"No route matches {request.method} {request.url.path}; "
                  "see /schema for the available endpoints")
    if status == 405:
        detail = (f"{request.method} is not allowed on {request.url.path}; "
                  "see /schema for the methods this path accepts")
    if status == 400:
        reason = "" if detail in ("Bad Request", "") else f" ({detail})"
        detail = (f"The request body could not be read{reason}: send a JSON object with "
                  "`Content-Type: application/json`, as the schema at /schema describes.")
    headers = dict(exc.headers or {})
    return problem_response(status, titles.get(status, "Error").lower().replace(" ", "-"),
                            titles.get(status, "Error"), detail,
                            instance=request.url.path, headers=headers)


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    ref = uuid.uuid4().hex[:12]
    logger.exception("unhandled error %s on %s %s", ref, request.method, request.url.path)
    return problem_response(500, "internal-error", "Internal server error",
                            f"Something went wrong on our side (reference {ref}); it has been "
                            "logged. Retry later, or report the reference if it persists.",
                            instance=request.url.path)


def _handle_database(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(503, "unavailable", "Service unavailable",
                            "The database is busy or unreachable right now; retry in a few "
                            "seconds (Retry-After).", instance=request.url.path,
                            headers={"Retry-After": "2"})


#: what a value the database refused means for the caller, by psycopg's error class name
_BAD_DATA = {
    "NumericValueOutOfRange": "a number is out of the range this field accepts",
    "DatetimeFieldOverflow": "a date or time is out of range",
    "InvalidDatetimeFormat": "a date or time is not valid",
    "StringDataRightTruncation": "a text value is too long",
    "CharacterNotInRepertoire": "a text value holds characters that are not valid UTF-8",
    "UntranslatableCharacter": "a text value holds characters that cannot be stored",
    "InvalidTextRepresentation": "a value is not of the expected type",
}


def _handle_bad_data(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A value the database cannot take (a NUL byte, a number out of range) came from the
    request: a validation error the caller can fix (422 naming the fields), not a 500. The
    database's own message is logged, never echoed: it describes our SQL, not the input."""
    first_line = str(exc).splitlines()[0] if str(exc) else "invalid value"
    logger.info("rejected bad data on %s %s: %s", request.method, request.url.path, first_line)
    fields = [k for k, v in request.query_params.items() if "\x00" in str(v)] or \
        [k for k, v in request.path_params.items() if "\x00" in str(v)]
    if fields or "NUL" in first_line:
        what = "a text value contains a NUL (0x00) character"
    else:
        what = _BAD_DATA.get(type(exc).__name__, "a value cannot be stored as given")
    errors = [FieldError(field=f, message="contains a NUL (0x00) character", source="query")
              for f in fields] or None
    names = ", ".join(fields) or "a value in this request"
    return problem_response(422, "validation-error", "Invalid input",
                            f"Invalid value for {names}: {what}. Remove control characters "
                            "(such as NUL) and keep numbers and dates in range.",
                            instance=request.url.path, errors=errors)


#: storage's domain errors -> the API error each one is answered with (the one mapping)
_STORAGE_ERRORS: dict[type[Exception], type[ApiError]] = {}


def _storage_error_map() -> dict[type[Exception], type[ApiError]]:
    if not _STORAGE_ERRORS:
        from storage import errors as se

        _STORAGE_ERRORS.update({se.Moved: Moved, se.NotFound: NotFound, se.Conflict: Conflict,
                                se.LimitReached: PlanLimit, se.InvalidValue: InvalidInput})
    return _STORAGE_ERRORS


def from_storage(exc: Exception) -> ApiError:
    """The API error a storage domain error is answered with (dashboard pages use it too)."""
    from storage.errors import StorageError

    assert isinstance(exc, StorageError)
    cls = next(api for se, api in _storage_error_map().items() if isinstance(exc, se))
    extra = {k: v for k, v in exc.details.items() if k != "new_id"}
    if cls is InvalidInput and "field" in extra:
        extra = {"errors": [FieldError(field=str(extra.pop("field")), message=exc.message)]}
    return cls(exc.message, **extra)


def moved_location(request: Request[Any, Any, Any], exc: Exception) -> str | None:
    """Where a request for a merged event goes: its path with the old id replaced by the
    survivor's (the first path segment that is the old id), the query kept."""
    from storage.errors import Moved as StorageMoved

    if not isinstance(exc, StorageMoved):
        return None
    parts = request.url.path.split("/")
    old = next((p for p in parts if p.isdigit() and p != str(exc.new_id)), None)
    if old is None:
        return None
    path = "/".join(str(exc.new_id) if p == old else p for p in parts)
    query = request.url.query
    return f"{path}?{query}" if query else path


def _handle_storage(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    error = from_storage(exc)
    location = moved_location(request, exc)
    if location is not None:
        error.headers["Location"] = location
    elif isinstance(error, Moved):  # no id in the path to replace: a plain 404
        error = NotFound(error.detail)
    return _handle_api_error(request, error)


def exception_handlers() -> ExceptionHandlersMap:
    """The app-level handler map: our errors, storage's domain errors, Litestar's HTTP
    errors, an unreachable or saturated database (503), then everything else (500)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from storage.errors import StorageError

    return {
        ApiError: _handle_api_error,
        StorageError: _handle_storage,
        HTTPException: _handle_http,
        PoolTimeout: _handle_database,
        psycopg.OperationalError: _handle_database,
        psycopg.DataError: _handle_bad_data,
        Exception: _handle_unexpected,
    }
