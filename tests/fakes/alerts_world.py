"""A tiny alerting world for the alert tests: one event on SeatGeek, users, rules, and
helpers to ingest listings through the real write path and match the changes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.fixtures_db import listing_batch

T0 = datetime(2031, 3, 1, 19, 0, tzinfo=UTC)


@dataclasses.dataclass
class AlertWorld:
    conn: psycopg.Connection[Any]
    event_id: int
    venue_id: int
    tick: int = 0

    def user(self, email: str = "fan@example.com", *, phone: str | None = None,
             plan: str = "free", timezone: str | None = None, cap: int | None = None,
             verified: bool = True) -> int:
        """A user; ``verified``: their email (and phone, if any) were proven."""
        row = self.conn.execute(
            """INSERT INTO users (email, phone, plan, timezone, daily_alert_cap,
                                  email_verified_at, phone_verified_at)
               VALUES (%s, %s, %s, %s, %s, CASE WHEN %s THEN now() END,
                       CASE WHEN %s AND %s::text IS NOT NULL THEN now() END) RETURNING id""",
            (email, phone, plan, timezone, cap, verified, verified, phone)).fetchone()
        self.conn.commit()
        return int(row[0])

    def rule(self, user_id: int, kind: str, **fields: Any) -> int:
        fields.setdefault("event_id", self.event_id)
        cols = ["user_id", "kind", *fields]
        row = self.conn.execute(
            f"INSERT INTO alert_rules ({', '.join(cols)}) VALUES "
            f"({', '.join(['%s'] * len(cols))}) RETURNING id",
            [user_id, kind, *fields.values()]).fetchone()
        self.conn.commit()
        return int(row[0])

    def ingest(self, rows: list[dict[str, Any]], *, complete: bool = False) -> dict[str, int]:
        """Write listings (``price_cents`` etc.) at the next tick and match the changes."""
        from engine.alerts import match
        from storage.ingest import write_snapshots

        self.tick += 1
        at = T0 + timedelta(minutes=self.tick)
        batch = listing_batch([{"observed_at": at, **r} for r in rows])
        result = write_snapshots(self.conn, batch, complete=complete, touch_interval_s=0)
        self.conn.commit()
        counts = match(self.conn, result)
        self.conn.commit()
        return counts

    def gone_all(self) -> dict[str, int]:
        from engine.alerts import match
        from storage.ingest import mark_gone

        self.tick += 1
        gone = mark_gone(self.conn, "seatgeek", "SG1", [], T0 + timedelta(minutes=self.tick))
        self.conn.commit()
        counts = match(self.conn, gone)
        self.conn.commit()
        return counts

    def outbox(self, user_id: int | None = None) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        cur = self.conn.cursor(row_factory=dict_row)
        rows = cur.execute(
            "SELECT * FROM alert_outbox WHERE %(u)s::bigint IS NULL OR user_id = %(u)s "
            "ORDER BY id", {"u": user_id}).fetchall()
        self.conn.commit()
        return rows

    def kinds(self, user_id: int | None = None) -> list[str]:
        return [m["kind"] for o in self.outbox(user_id) for m in o["payload"]["matches"]]


def make_world(conn: psycopg.Connection[Any]) -> AlertWorld:
    venue = conn.execute("INSERT INTO venues (name, city) VALUES ('Moda Center', 'Portland') "
                         "RETURNING id").fetchone()[0]
    event = conn.execute(
        """INSERT INTO events (name, starts_at, venue_id, performers)
           VALUES ('Trail Blazers vs. Lakers', '2031-03-10 03:00+00', %s,
                   '{Portland Trail Blazers,Los Angeles Lakers}') RETURNING id""",
        (venue,)).fetchone()[0]
    conn.execute("""INSERT INTO event_sources (marketplace, source_event_id, event_id, url)
                    VALUES ('seatgeek', 'SG1', %s, 'https://seatgeek.com/e/SG1')""", (event,))
    conn.commit()
    return AlertWorld(conn, int(event), int(venue))
