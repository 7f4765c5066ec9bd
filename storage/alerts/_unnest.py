"""Rows to column arrays, for the ``unnest(%s::bigint[], ...)`` updates of this package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def as_columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """``rows`` transposed: one list per column (``width`` empty lists when there are none)."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * width
