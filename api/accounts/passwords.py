"""Password strength with zxcvbn (Dropbox's estimator): common passwords, keyboard walks,
repeats, dates and the account's own email or name are refused, with zxcvbn's advice."""

from __future__ import annotations

import re

from zxcvbn import zxcvbn

from api.lib.errors import InvalidInput

#: zxcvbn score 0..4; 3 = "safely unguessable: moderate protection from offline attacks"
MIN_SCORE = 3


def check_strength(password: str, *context: str | None, field: str = "password") -> None:
    """Raise :class:`InvalidInput` naming what is wrong with a weak ``password``; ``context``
    (email, display name) counts as easy to guess."""
    words: list[str] = []
    for value in context:
        if value:
            words.append(value)
            words += [w for w in re.split(r"[^A-Za-z0-9]+", value) if len(w) >= 3]
    result = zxcvbn(password[:100], user_inputs=words)  # zxcvbn is slow on long inputs
    if result["score"] >= MIN_SCORE:
        return
    feedback = result.get("feedback") or {}
    hints = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    advice = " ".join(h.rstrip(".") + "." for h in hints if h)
    raise InvalidInput(
        f"That {field.replace('_', ' ')} is too easy to guess"
        + (f": {advice}" if advice else ".")
        + " Try a few unrelated words, or a password manager's suggestion.",
        errors=[{"field": field, "message": "too easy to guess"}])
