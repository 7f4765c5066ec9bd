"""Vectorised features of a listings batch: the inputs of the fair-price model.

Everything here works per *distinct value* (a batch of a million listings has a few hundred
distinct sections and rows), so Python only ever touches the small dictionaries and numpy
gathers the results back to the rows: no Python loop per listing.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from engine.deals.context import ScoringContext

#: Section tiers: coarse seat-quality classes every venue shares, the pooling level for
#: sections with little history of their own.
TIERS: tuple[str, ...] = (
    "courtside", "floor", "club", "suite", "lower", "middle", "upper", "ga", "other",
)

#: Row-depth buckets (upper bounds, inclusive); rows deeper than the last share a bucket.
ROW_BUCKETS: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 17, 25)
QTY_BUCKETS: tuple[int, ...] = (1, 2, 3, 4, 6)
DTE_BUCKETS: tuple[float, ...] = (1.0, 3.0, 7.0, 14.0, 30.0, 60.0)

_TIER_WORDS: tuple[tuple[str, str], ...] = (
    ("COURT", "courtside"), ("FLOOR", "floor"), ("PIT", "floor"), ("FLR", "floor"),
    ("CLUB", "club"), ("SUITE", "suite"), ("BOX", "suite"), ("LOGE", "suite"),
    ("GA", "ga"), ("GENERAL", "ga"), ("LAWN", "ga"), ("STANDING", "ga"),
    ("ORCH", "lower"), ("LOWER", "lower"), ("MEZZ", "middle"), ("MIDDLE", "middle"),
    ("BALC", "upper"), ("UPPER", "upper"), ("TERRACE", "upper"),
)
_DIGITS = re.compile(r"(\d+)")


@dataclasses.dataclass(slots=True)
class Cat:
    """A categorical column: per-row codes into a short list of labels."""

    codes: np.ndarray  # int32
    labels: list[str]

    def values(self) -> np.ndarray:
        """Per-row labels (an object array: only for small batches and tests)."""
        return np.asarray(self.labels, dtype=object)[self.codes]


@dataclasses.dataclass(slots=True)
class Features:
    """Per-listing model inputs, each of the batch's length."""

    event: Cat  # our event identity (pooled across marketplaces)
    venue: Cat  # the event's venue ("?" when the context does not say)
    section: Cat  # upper-cased, stripped; "?" when unknown
    tier: Cat  # one of TIERS
    row: Cat  # the row as printed, upper-cased ("?" when unknown)
    row_bucket: Cat  # ROW_BUCKETS index as text, "?" when the row is unknown
    qty_bucket: Cat
    dte_bucket: Cat
    marketplace: Cat
    delivery: Cat
    kind: Cat
    row_depth: np.ndarray  # float, NaN when unknown
    quantity: np.ndarray  # int
    days_to_event: np.ndarray  # float, NaN when the event date is unknown
    total_cents: np.ndarray  # int64, 0 when missing
    log_price: np.ndarray  # float, NaN when the price is missing or not positive

    def __len__(self) -> int:
        return len(self.total_cents)

    def cat(self, name: str) -> Cat:
        return getattr(self, name)


def section_tier(section: str) -> str:
    """A section name's tier: keywords first, then the number's hundreds digit."""
    s = section.upper()
    for word, tier in _TIER_WORDS:
        if word == "GA" and s not in {"GA", "G.A.", "GEN ADM"} and not s.startswith("GA "):
            continue
        if word in s:
            return tier
    m = _DIGITS.search(s)
    if m:
        n = int(m.group(1))
        if n < 100:
            return "lower" if n < 40 else "other"
        return {1: "lower", 2: "middle", 3: "upper", 4: "upper"}.get(n // 100, "other")
    return "other"


def row_depth(row: str | None) -> float:
    """How many rows back: "12" -> 12, "A" -> 1, "AA" -> 27; NaN when unknown."""
    if not row:
        return float("nan")
    r = row.strip().upper()
    if r.isdigit():
        return float(int(r))
    if r.isalpha() and len(r) <= 3:
        if len(set(r)) == 1 and len(r) > 1:  # "AA", "BBB": the second lap of the alphabet
            return float((len(r) - 1) * 26 + ord(r[0]) - 64)
        depth = 0
        for ch in r:
            depth = depth * 26 + ord(ch) - 64
        return float(depth)
    m = _DIGITS.search(r)
    return float(int(m.group(1))) if m else float("nan")


def _encode(arr: pa.Array, fn=None, default: str = "?") -> Cat:  # type: ignore[no-untyped-def]
    """Dictionary-encode a string array, optionally mapping each distinct value through
    ``fn`` (Python runs once per distinct value, numpy gathers back to rows)."""
    enc = pc.dictionary_encode(arr)
    raw = enc.dictionary.to_pylist()
    mapped = [default if v is None else (fn(v) if fn else v) for v in raw] + [default]
    labels, remap = np.unique(np.asarray(mapped, dtype=object), return_inverse=True)
    idx = enc.indices.fill_null(len(mapped) - 1).to_numpy(zero_copy_only=False)
    return Cat(remap.astype(np.int32)[idx], [str(x) for x in labels])


def _cat_from_ints(values: np.ndarray, n_labels: int) -> Cat:
    """Bucket indexes (-1 = unknown) as a Cat whose labels are the indexes as text."""
    labels = [str(i) for i in range(n_labels)] + ["?"]
    return Cat(np.where(values < 0, n_labels, values).astype(np.int32), labels)


def _norm_str(arr: pa.Array, default: str) -> pa.Array:
    out = pc.utf8_upper(pc.utf8_trim_whitespace(arr.cast(pa.string())))
    return pc.if_else(pc.or_kleene(pc.is_null(out), pc.equal(out, "")), default, out)


def _column(batch: pa.RecordBatch | pa.Table, name: str, n: int, default: object) -> pa.Array:
    if name in batch.schema.names:
        col = batch.column(name)
        return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    typ = pa.string() if isinstance(default, str) else pa.int64()
    return pa.array([default] * n, type=typ) if n < 1024 else \
        pc.fill_null(pa.nulls(n, typ), pa.scalar(default, typ))


def event_keys(batch: pa.RecordBatch | pa.Table, context: ScoringContext | None) -> pa.Array:
    """Our event identity per listing: ``event_id`` when storage resolved it, else the
    context's (marketplace, source_event_id) map, else ``marketplace:source_event_id``."""
    n = batch.num_rows
    own = pc.binary_join_element_wise(
        _column(batch, "marketplace", n, "?").cast(pa.string()),
        _column(batch, "source_event_id", n, "?").cast(pa.string()), ":")
    if "event_id" in batch.schema.names:
        return pc.coalesce(_column(batch, "event_id", n, "").cast(pa.string()), own)
    if context is not None and context.source_map is not None:
        keys, values = context.source_map
        return pc.coalesce(pc.take(values, pc.index_in(own, value_set=keys)), own)
    return own


def bucket(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Bucket index per value (``len(edges)`` beyond the last edge, -1 for NaN)."""
    out = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return np.where(np.isnan(values), -1, out).astype(np.int32)


def extract(batch: pa.RecordBatch | pa.Table, context: ScoringContext | None) -> Features:
    """Model inputs of every listing in ``batch`` (LISTING_SCHEMA, extra columns ignored)."""
    n = batch.num_rows
    event = _encode(event_keys(batch, context))
    if context is not None:
        venue_per_event, starts_per_event = context.event_info(event.labels)
    else:
        venue_per_event = ["?"] * len(event.labels)
        starts_per_event = np.full(len(event.labels), np.nan)
    venue_labels, venue_of_event = np.unique(
        np.asarray([*list(venue_per_event), "?"], dtype=object), return_inverse=True)
    venue = Cat(venue_of_event[:-1].astype(np.int32)[event.codes], [str(v) for v in venue_labels])

    section_str = _norm_str(_column(batch, "section", n, "?"), "?")
    section = _encode(section_str)
    tier = _encode(section_str, section_tier, "other")
    rows = _encode(_norm_str(_column(batch, "row", n, "?"), "?"))
    depth_by_label = np.array([row_depth(x) if x != "?" else np.nan for x in rows.labels])
    depth = depth_by_label[rows.codes]

    qty = _column(batch, "quantity", n, 1).cast(pa.int64()).fill_null(1)
    quantity = np.clip(qty.to_numpy(zero_copy_only=False), 1, 99)

    total = _column(batch, "total_cents", n, 0).cast(pa.int64()).fill_null(0)
    total_cents = total.to_numpy(zero_copy_only=False)
    log_price = np.log(np.maximum(total_cents, 1).astype(np.float64))
    log_price[total_cents <= 0] = np.nan

    if "observed_at" in batch.schema.names:
        obs = _column(batch, "observed_at", n, 0).cast(pa.timestamp("us", tz="UTC"))
        obs_s = obs.cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    else:
        obs_s = np.full(n, np.nan)
    days = (np.asarray(starts_per_event, dtype=np.float64)[event.codes] - obs_s) / 86400.0

    return Features(
        event=event,
        venue=venue,
        section=section,
        tier=tier,
        row=rows,
        row_bucket=_cat_from_ints(bucket(depth, ROW_BUCKETS), len(ROW_BUCKETS) + 1),
        qty_bucket=_cat_from_ints(bucket(quantity.astype(np.float64), QTY_BUCKETS),
                                  len(QTY_BUCKETS) + 1),
        dte_bucket=_cat_from_ints(bucket(days, DTE_BUCKETS), len(DTE_BUCKETS) + 1),
        marketplace=_encode(pc.utf8_lower(_column(batch, "marketplace", n, "?")
                                          .cast(pa.string()))),
        delivery=_encode(_norm_str(_column(batch, "delivery", n, "unknown"), "UNKNOWN")),
        kind=_encode(_norm_str(_column(batch, "kind", n, "resale"), "RESALE")),
        row_depth=depth,
        quantity=quantity,
        days_to_event=days,
        total_cents=total_cents,
        log_price=log_price,
    )
