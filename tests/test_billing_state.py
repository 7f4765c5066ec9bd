"""The subscription state machine (pure): which event wins, and what the user gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.billing.state import (
    SubscriptionSnapshot,
    effective_status,
    grants_premium,
    invoice_subscription,
    should_apply,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LATER = T0 + timedelta(seconds=5)


def test_newer_events_win_and_older_ones_are_stale() -> None:
    assert should_apply(None, None, "active", T0)
    assert should_apply("active", T0, "past_due", LATER)
    assert not should_apply("past_due", LATER, "active", T0)


def test_an_ended_subscription_never_comes_back() -> None:
    assert not should_apply("canceled", T0, "active", LATER)
    assert should_apply("active", T0, "canceled", T0)


def test_same_second_ties_go_to_the_later_lifecycle_status() -> None:
    assert should_apply("active", T0, "past_due", T0)
    assert not should_apply("past_due", T0, "incomplete", T0)


def test_grace_period_keeps_premium_until_it_ends() -> None:
    grace_until = T0 + timedelta(days=7)
    during = effective_status("past_due", grace_until, T0 + timedelta(days=6))
    after = effective_status("past_due", grace_until, T0 + timedelta(days=8))
    assert (during, after) == ("past_due", "unpaid")
    assert grants_premium(during) and not grants_premium(after)
    assert effective_status("canceled", grace_until, T0 + timedelta(days=8)) == "canceled"
    assert effective_status("active", None, T0) == "active"


def test_snapshot_reads_current_and_pre_basil_shapes() -> None:
    start, end = int(T0.timestamp()), int((T0 + timedelta(days=30)).timestamp())
    price = {"id": "price_m", "recurring": {"interval": "month"}}
    new = SubscriptionSnapshot.from_stripe({
        "id": "sub_1", "customer": "cus_1", "status": "active", "cancel_at_period_end": False,
        "metadata": {"ripcity_user_id": "42"}, "latest_invoice": "in_1",
        "items": {"data": [{"price": price, "current_period_start": start,
                            "current_period_end": end}]}})
    old = SubscriptionSnapshot.from_stripe({
        "id": "sub_1", "customer": {"id": "cus_1"}, "status": "active",
        "current_period_start": start, "current_period_end": end,
        "metadata": {"ripcity_user_id": "42"}, "latest_invoice": {"id": "in_1"},
        "items": {"data": [{"price": price}]}})
    assert new == old
    assert (new.price_id, new.interval, new.user_id) == ("price_m", "month", 42)
    assert new.current_period_end == T0 + timedelta(days=30)


def test_invoice_subscription_before_and_after_basil() -> None:
    assert invoice_subscription({"subscription": "sub_1"}) == "sub_1"
    assert invoice_subscription({"parent": {"subscription_details":
                                            {"subscription": "sub_2"}}}) == "sub_2"
    assert invoice_subscription({"parent": None}) is None
