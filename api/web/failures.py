"""The note a dashboard form shows when a write is refused: the detail of the API's answer."""

from __future__ import annotations

from api.lib.errors import ApiError, from_storage
from storage.errors import StorageError

#: What a page's form handler catches to redirect back with a note instead of an error page.
REFUSED = (ApiError, StorageError)


def refusal(err: ApiError | StorageError) -> str:
    """What to tell the person: the problem's ``detail`` the REST API would answer with."""
    return (from_storage(err) if isinstance(err, StorageError) else err).detail
