"""What storage raises when the data says no: not found, conflict, limit reached, bad value.

These carry no HTTP knowledge; the API maps each class to one status in one place
(``api/lib/errors.py``). Each message is written for the person who sent the request: what
was wrong and what to do. All of them pickle (they may cross Ray).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of the domain errors below; ``str(err)`` is the actionable message."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        #: structured extras for the caller (e.g. ``field`` for an invalid value)
        self.details = details

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[StorageError], message: str, details: dict[str, object]
             ) -> StorageError:
    return cls(message, **details)


class NotFound(StorageError):
    """The row asked for does not exist (or is not the caller's)."""


class Moved(NotFound):
    """The row lives under another id now (an event merged into another): ``new_id``."""

    @property
    def new_id(self) -> int:
        return int(self.details["new_id"])  # type: ignore[call-overload]


class Conflict(StorageError):
    """The write contradicts what is stored (a duplicate, a stale version)."""


class LimitReached(StorageError):
    """The write would pass a plan's limit (watchlists, rules, requests per day)."""


class InvalidValue(StorageError):
    """A value the caller sent cannot be stored or searched for (out of range, malformed)."""
