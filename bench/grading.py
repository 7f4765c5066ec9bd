"""Listing history and truth from a running sandbox, for the benchmark and quality tests.

Reads ``/_sandbox/truth`` at several clock points and turns each marketplace's view of a
listing into a LISTING_SCHEMA row the way the crawler would (section and row through
``crawler.normalize``; event identity resolved to the world event id, as storage does).
The true fair value travels in ``fair_cents`` for grading only: the model never sees it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import httpx
import numpy as np
import pyarrow as pa

from crawler import normalize
from engine.deals.context import EVENT_CONTEXT_SCHEMA, ScoringContext
from storage.records import LISTING_SCHEMA

GRADED_SCHEMA = LISTING_SCHEMA.append(pa.field("event_id", pa.string())).append(
    pa.field("fair_cents", pa.int64()))


@dataclasses.dataclass(slots=True)
class SandboxHistory:
    listings: pa.Table  # GRADED_SCHEMA rows over all clock points
    events: pa.Table  # EVENT_CONTEXT_SCHEMA
    clocks: list[datetime]

    def context(self) -> ScoringContext:
        return ScoringContext.build(self.events)

    def at(self, clock: datetime) -> pa.Table:
        import pyarrow.compute as pc

        return self.listings.filter(pc.equal(self.listings["observed_at"],
                                             pa.scalar(clock, pa.timestamp("us", tz="UTC"))))


def _parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _rows(truth: dict, observed: datetime, out: dict[str, list]) -> None:
    ids = truth["ids"]
    for item in truth["listings"]:
        for m, shown in item["marketplaces"].items():
            if shown.get("malformed") or not shown.get("all_in_cents"):
                continue
            out["observed_at"].append(observed)
            out["marketplace"].append(m)
            out["listing_id"].append(str(shown["listing_id"]))
            out["source_event_id"].append(str(ids.get(m, truth["world_event_id"])))
            out["section"].append(normalize.section(shown.get("section")) or None)
            out["row"].append(normalize.row(shown.get("row")))
            out["seats"].append(normalize.seats(item.get("seats")))
            out["quantity"].append(int(shown["quantity"]))
            out["price_cents"].append(shown.get("price_cents"))
            out["fees_cents"].append(shown.get("fees_cents"))
            out["total_cents"].append(int(shown["all_in_cents"]))
            out["kind"].append(item.get("kind", "resale"))
            out["event_id"].append(truth["world_event_id"])
            out["fair_cents"].append(int(item["fair_cents"]))


def collect(base_url: str, clock_steps_s: list[float], max_events: int | None = None
            ) -> SandboxHistory:
    """Advance the sandbox clock by each step in turn and read every event's truth after it
    (a step of 0 reads the current clock)."""
    out: dict[str, list] = {f.name: [] for f in GRADED_SCHEMA}
    clocks: list[datetime] = []
    with httpx.Client(base_url=base_url, timeout=120) as client:
        summary = client.get("/_sandbox/truth/events").json()["events"]
        if max_events:
            summary = summary[:max_events]
        events = pa.Table.from_pylist([
            {"event_key": e["world_event_id"], "venue": f"{e['venue']}|{e['category']}",
             "starts_at": _parse_time(e["starts_at"]), "category": e["category"],
             "performers": "|".join(e.get("performers") or [])} for e in summary],
            schema=EVENT_CONTEXT_SCHEMA)
        for step in clock_steps_s:
            if step:
                client.post("/_sandbox/clock", json={"seconds": step}).raise_for_status()
            now = _parse_time(client.get("/_sandbox/clock").json()["now"])
            clocks.append(now)
            for e in summary:
                truth = client.get(f"/_sandbox/truth/events/{e['world_event_id']}").json()
                _rows(truth, now, out)
    n = len(out["observed_at"])
    for name in ("splits", "zone", "delivery"):
        out[name] = [None] * n
    out["currency"] = ["USD"] * n
    return SandboxHistory(pa.table(out, schema=GRADED_SCHEMA), events, clocks)


def grade(scores: np.ndarray, fair: np.ndarray, total: np.ndarray, top: int = 100,
          best_share: float = 0.05) -> dict[str, float]:
    """Spearman of score vs the true discount (fair - all-in) / fair, and the share of the
    ``top`` best-scored listings that are among the true best ``best_share``."""
    from scipy.stats import spearmanr

    true = (fair - total) / fair
    ok = np.isfinite(scores)
    s, t = scores[ok], true[ok]
    best = np.argsort(-s, kind="stable")[:top]
    return {
        "spearman": float(spearmanr(s, t).statistic),
        "precision_at_100": float(np.mean(t[best] >= np.quantile(t, 1 - best_share))),
        "graded_listings": float(ok.sum()),
    }


def load_into_database(db_url: str, hist: SandboxHistory) -> dict[str, int]:
    """Write ``hist`` into a migrated database as the crawler's ingest would: one event
    record per marketplace id (cross-referenced, so identity merges them) and every clock
    point's listings as a complete crawl (listings that vanished are marked gone).
    Returns our event id per world event id."""
    import psycopg
    import pyarrow.compute as pc

    from storage.events import upsert_events
    from storage.ingest import write_snapshots
    from storage.records import EventRecord

    ids = pc.unique(pc.binary_join_element_wise(
        hist.listings["event_id"], hist.listings["marketplace"],
        hist.listings["source_event_id"], "\t")).to_pylist()
    by_world: dict[str, list[tuple[str, str]]] = {}
    for key in ids:
        world, m, sid = key.split("\t")
        by_world.setdefault(world, []).append((m, sid))
    info = {r["event_key"]: r for r in hist.events.to_pylist()}
    records = []
    for world, refs in by_world.items():
        e = info[world]
        venue, category = e["venue"].rsplit("|", 1)
        records += [EventRecord(m, sid, f"Sandbox event {world}", e["starts_at"],
                                venue_name=venue, venue_city="Portland", category=category,
                                cross_refs=tuple(r for r in refs if r != (m, sid)))
                    for m, sid in refs]
    listing_cols = [f.name for f in LISTING_SCHEMA]
    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT ripcity_ensure_partitions(%s, %s)",
                     (min(hist.clocks), max(hist.clocks) + (max(hist.clocks) - min(hist.clocks))))
        mapped = upsert_events(conn, records)
        conn.commit()
        for clock in hist.clocks:
            write_snapshots(conn, hist.at(clock).select(listing_cols), complete=True,
                            touch_interval_s=0)
            conn.commit()
    return {world: mapped[refs[0]] for world, refs in by_world.items()}
