"""What follows a committed plan change: drop cached identities, then email the user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.billing.notices import send_notices

if TYPE_CHECKING:
    from api.billing.subscriptions import PlanChange
    from api.lib.runtime import Runtime


async def after_commit(runtime: Runtime, changes: list[PlanChange]) -> int:
    """Make plan changes visible at once in this process and tell the user; returns emails
    sent. Other API processes see the change when their identity cache expires (seconds)."""
    for user_id in {c.user_id for c in changes}:
        runtime.forget_user(user_id)
    return await send_notices(runtime.settings, changes)
