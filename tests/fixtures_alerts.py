"""Fixtures the alert tests share: the alerting ``world`` on the test's database, and the
SMTP and Twilio stand-ins on 127.0.0.1. Registered in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from sandbox.vendors.smtp_inbox import SmtpBox
from sandbox.vendors.twilio_api import FakeTwilio
from tests.fakes.alerts_world import AlertWorld, make_world


@pytest.fixture
def world(db: psycopg.Connection[Any]) -> AlertWorld:
    return make_world(db)


@pytest.fixture
def smtp() -> Iterator[SmtpBox]:
    box = SmtpBox().start()
    yield box
    box.stop()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()
