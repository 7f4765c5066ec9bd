"""Constrained values shared by several domains' request bodies (msgspec ``Meta``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

#: a short human-written name (display name, key name, performer)
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
#: a row id
Id = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
