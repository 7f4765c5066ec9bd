"""The site's secret key: ``RIPCITY_SECRET_KEY``, or one generated once into the data directory.

The key signs one thing: the one-click unsubscribe links in alert emails (an HMAC of the
user, the channel and that user's random ``unsubscribe_key``). Sessions, API keys and reset
tokens are random values stored as hashes and need no key. With nothing set, the first
process generates 256 random bits into ``RIPCITY_DATA_DIR/secret_key`` (mode 0600) and every
later process on the machine reads it back, so ``make run`` stays zero-config and safe.
:func:`weakness` says why a key must not face other hosts (the published default, too short).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_NAME = "secret_key"
#: keys published in this repository's history: never accept them off loopback
PUBLISHED = frozenset({"dev-insecure-change-me"})
MIN_LENGTH = 32


def load_or_create(data_dir: Path) -> str:
    """The key kept in ``data_dir`` (made there, 0600, on first use)."""
    path = Path(data_dir) / FILE_NAME
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    try:  # O_EXCL: of two processes starting together, one writes and both read its key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    logger.info("generated the site secret key into %s (mode 0600)", path)
    return key


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < MIN_LENGTH:  # a half-written file from a crash: make a new one
        path.unlink(missing_ok=True)
        raise FileNotFoundError(path)
    return key


def weakness(key: str) -> str | None:
    """Why ``key`` must not sign links for a service other hosts can reach, or None."""
    if key in PUBLISHED:
        return "is the published default"
    if len(key) < MIN_LENGTH:
        return f"is {len(key)} characters long (at least {MIN_LENGTH} random ones are needed)"
    return None
