"""Who an alert goes to, and the per person and channel state (``alert_user_channels``).

``recipients`` reads, for every (user, channel) of a claimed batch at once: address, plan,
opt-out, a disabled channel's reason, the last send and today's sends (in the user's time
zone) against their daily cap. The dispatcher writes back which channels it used and which
a permanent failure disabled, sorted here so two dispatchers touching the same people lock
rows in the same order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

# Recipient, plan, channel state and today's sends for every (user, channel) of a batch.
_RECIPIENTS = """
SELECT k.user_id, k.channel, u.id IS NOT NULL AS "exists", u.email, u.phone,
       CASE k.channel WHEN 'sms' THEN u.phone_verified_at IS NOT NULL
                      -- a webhook goes to the owner's own endpoints, not to an address
                      -- that someone else may own
                      WHEN 'webhook' THEN true
                      ELSE u.email_verified_at IS NOT NULL END AS verified,
       u.unsubscribe_key,
       alert_user_is_premium(k.user_id) AS premium,
       coalesce(c.opted_out, false) AS opted_out, c.disabled_reason AS disabled,
       c.last_sent_at AS last_sent, coalesce(u.daily_alert_cap, %(cap)s) AS cap,
       (SELECT count(*) FROM alert_outbox o
        WHERE o.user_id = k.user_id AND o.channel = k.channel AND o.status = 'sent'
          AND o.merged_into IS NULL
          AND o.sent_at >= date_trunc('day', now() AT TIME ZONE coalesce(u.timezone, 'UTC'))
                           AT TIME ZONE coalesce(u.timezone, 'UTC')) AS sent_today,
       now() AS now
FROM unnest(%(uids)s::bigint[], %(chs)s::text[]) AS k (user_id, channel)
LEFT JOIN users u ON u.id = k.user_id
LEFT JOIN alert_user_channels c ON c.user_id = k.user_id AND c.channel = k.channel
"""

_CHANNEL_SENT = """
INSERT INTO alert_user_channels (user_id, channel, last_sent_at)
SELECT u, c, now() FROM unnest(%s::bigint[], %s::text[]) AS v (u, c)
ON CONFLICT (user_id, channel) DO UPDATE SET last_sent_at = now(), updated_at = now()
"""

_CHANNEL_DISABLE = """
INSERT INTO alert_user_channels (user_id, channel, disabled_reason, disabled_at)
SELECT u, c, r, now() FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v (u, c, r)
ON CONFLICT (user_id, channel) DO UPDATE SET disabled_reason = EXCLUDED.disabled_reason,
    disabled_at = now(), updated_at = now()
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    """One person on one channel, as the database sees them now."""

    user_id: int
    channel: str
    exists: bool  # False: the user was deleted after the match
    email: str | None
    phone: str | None
    verified: bool | None  # the channel's address was proven by its owner (code or link)
    unsubscribe_key: str | None
    premium: bool
    opted_out: bool
    disabled: str | None  # why the channel is disabled, if it is
    last_sent: datetime | None
    cap: int  # messages per local day
    sent_today: int
    now: datetime  # the database's clock


def recipients(conn: psycopg.Connection[Any], pairs: Iterable[tuple[int, str]],
               default_cap: int) -> dict[tuple[int, str], Recipient]:
    """Each (user id, channel) in ``pairs``, by that pair; a user without a
    ``daily_alert_cap`` gets ``default_cap``."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    with conn.cursor(row_factory=record_row(Recipient)) as cur:
        found = cur.execute(_RECIPIENTS, {"cap": default_cap, "uids": [u for u, _ in pairs],
                                          "chs": [c for _, c in pairs]}).fetchall()
    return {(r.user_id, r.channel): r for r in found}


def disable_channels(conn: psycopg.Connection[Any],
                     reasons: Mapping[tuple[int, str], str]) -> None:
    """Disable each (user id, channel) with its reason (the dashboard shows it until the
    person fixes their address); in the caller's transaction."""
    if reasons:
        items = sorted(reasons.items())
        conn.execute(_CHANNEL_DISABLE, ([u for (u, _), _ in items], [c for (_, c), _ in items],
                                        [r for _, r in items]))


def touch_channels(conn: psycopg.Connection[Any], pairs: Iterable[tuple[int, str]]) -> None:
    """Stamp ``last_sent_at`` on each (user id, channel); in the caller's transaction."""
    ordered = sorted(pairs)
    if ordered:
        conn.execute(_CHANNEL_SENT, ([u for u, _ in ordered], [c for _, c in ordered]))
