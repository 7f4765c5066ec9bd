"""Price-history signals over snapshot tables: drops, % change windows, all-time lows.

All functions are vectorised over Arrow/numpy (sorted group offsets and ``searchsorted``),
so they run on millions of snapshot rows. Inputs are snapshot tables as storage returns
them (LISTING_SCHEMA columns; ``event_id`` when identities are resolved).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_BIG = 10**11  # above any price in cents we will see
_DAY = 86400.0

#: Columns of ``series_signals`` / ``listing_signals`` / ``event_signals``.
SIGNAL_FIELDS = ("key", "observed_at", "last_cents", "previous_cents", "drop_cents",
                 "drop_pct", "all_time_low_cents", "is_all_time_low", "near_all_time_low")


def _np(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.to_numpy(zero_copy_only=False)


def _epoch_s(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return _np(pc.cast(pc.cast(col, pa.timestamp("us", tz="UTC")), pa.int64())) / 1e6


def _groups(keys: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    enc = pc.dictionary_encode(keys.combine_chunks() if isinstance(keys, pa.ChunkedArray)
                               else keys)
    return _np(enc.indices).astype(np.int64), enc.dictionary.to_pylist()


def _event_key(table: pa.Table) -> pa.Array:
    own = pc.binary_join_element_wise(table["marketplace"], table["source_event_id"], ":")
    if "event_id" in table.schema.names:
        return pc.coalesce(table["event_id"].cast(pa.string()), own)
    return own


def series_signals(
    keys: pa.Array | pa.ChunkedArray,
    observed_at: pa.Array | pa.ChunkedArray,
    cents: np.ndarray,
    windows_days: tuple[float, ...] = (1.0, 7.0),
    near_low: float = 0.05,
) -> pa.Table:
    """Signals of many price series at once, one output row per key.

    Args:
        keys: series id per observation (listing, or event for get-in prices).
        observed_at: timestamp per observation.
        cents: price per observation (rows with a price <= 0 are ignored).
        windows_days: for each w, ``change_{w}d_pct``: the last price vs the price in
            force w days before the last observation (null when the series is younger).
        near_low: the "good deal" badge: the last price within this share of the
            all-time low.
    """
    g_all, labels = _groups(keys)
    t_all = _epoch_s(observed_at)
    ok = np.asarray(cents) > 0
    g, t, v = g_all[ok], t_all[ok], np.asarray(cents, dtype=np.int64)[ok]
    order = np.lexsort((t, g))
    g, t, v = g[order], t[order], v[order]
    n = len(g)
    if n == 0:
        return pa.table({k: pa.array([], pa.int64()) for k in SIGNAL_FIELDS})
    last_mask = np.ones(n, dtype=bool)
    last_mask[:-1] = g[1:] != g[:-1]
    last = np.flatnonzero(last_mask)
    first = np.concatenate(([0], last[:-1] + 1))
    has_prev = last > first
    prev = np.where(has_prev, v[np.maximum(last - 1, 0)], v[last])
    # all-time low before the last observation: grouped running minimum
    gmax = int(g.max()) + 1
    shifted = v + (gmax - g) * _BIG
    runmin = np.minimum.accumulate(shifted) - (gmax - g) * _BIG
    low_before = np.where(has_prev, runmin[np.maximum(last - 1, 0)], np.iinfo(np.int64).max)
    last_v = v[last]
    low = np.minimum(low_before, last_v)
    out = {
        "key": pa.array([labels[i] for i in g[last]], pa.string()),
        "observed_at": pa.array((t[last] * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC")),
        "last_cents": pa.array(last_v),
        "previous_cents": pa.array(prev, mask=~has_prev),
        "drop_cents": pa.array(np.maximum(prev - last_v, 0), mask=~has_prev),
        "drop_pct": pa.array(np.maximum(prev - last_v, 0) / np.maximum(prev, 1) * 100.0,
                             mask=~has_prev),
        "all_time_low_cents": pa.array(low),
        "is_all_time_low": pa.array(has_prev & (last_v <= low_before)),
        "near_all_time_low": pa.array(last_v <= low * (1.0 + near_low)),
    }
    combined = g.astype(np.float64) * 1e12 + t  # sorted ascending
    for w in windows_days:
        target = g[last].astype(np.float64) * 1e12 + (t[last] - w * _DAY)
        pos = np.searchsorted(combined, target, side="right") - 1
        valid = pos >= first
        base = v[np.clip(pos, 0, n - 1)]
        change = (last_v - base) / np.maximum(base, 1) * 100.0
        out[f"change_{w:g}d_pct"] = pa.array(change, mask=~valid)
    return pa.table(out)


def listing_signals(snapshots: pa.Table, windows_days: tuple[float, ...] = (1.0, 7.0)
                    ) -> pa.Table:
    """Per listing (``marketplace:listing_id``): last price, drop, % changes, all-time low."""
    keys = pc.binary_join_element_wise(snapshots["marketplace"], snapshots["listing_id"], ":")
    return series_signals(keys, snapshots["observed_at"],
                          _np(snapshots["total_cents"].fill_null(0)), windows_days)


def get_in_series(snapshots: pa.Table, bucket_minutes: float = 60.0) -> pa.Table:
    """An event's get-in price (lowest all-in) per observation window: ``event_key``,
    ``observed_at`` (window start), ``get_in_cents``, ``listings``."""
    t = _epoch_s(snapshots["observed_at"])
    step = bucket_minutes * 60.0
    win = pa.array((np.floor(t / step) * step * 1e6).astype(np.int64),
                   pa.timestamp("us", tz="UTC"))
    priced = pc.greater(snapshots["total_cents"].fill_null(0), 0)
    tab = pa.table({"event_key": _event_key(snapshots), "observed_at": win,
                    "total_cents": snapshots["total_cents"]}).filter(priced)
    agg = tab.group_by(["event_key", "observed_at"]).aggregate(
        [("total_cents", "min"), ("total_cents", "count")])
    return agg.rename_columns({"total_cents_min": "get_in_cents",
                               "total_cents_count": "listings"}).sort_by(
        [("event_key", "ascending"), ("observed_at", "ascending")])


def event_signals(snapshots: pa.Table, windows_days: tuple[float, ...] = (1.0, 7.0)) -> pa.Table:
    """Per event: get-in price drop, % changes and all-time-low flags."""
    s = get_in_series(snapshots)
    return series_signals(s["event_key"], s["observed_at"], _np(s["get_in_cents"]),
                          windows_days)


def section_daily_lows(snapshots: pa.Table) -> pa.Table:
    """Lowest all-in price per (event, section, UTC day): the input of ``section_low_days``.
    Pass only snapshots *before* the batch being scored."""
    day = pc.cast(pc.cast(snapshots["observed_at"], pa.timestamp("us", tz="UTC")), pa.date32())
    section = pc.utf8_upper(pc.utf8_trim_whitespace(snapshots["section"].fill_null("?")))
    tab = pa.table({"event_key": _event_key(snapshots), "section": section, "day": day,
                    "low_cents": snapshots["total_cents"]}).filter(
        pc.greater(snapshots["total_cents"].fill_null(0), 0))
    return tab.group_by(["event_key", "section", "day"]).aggregate(
        [("low_cents", "min")]).rename_columns({"low_cents_min": "low_cents"})


def section_low_days(
    lows: pa.Table,
    event_key: pa.Array,
    section: pa.Array,
    price: np.ndarray,
    today: datetime | None = None,
) -> np.ndarray:
    """Per listing: full days since its section last had an all-in price at or below this
    one (the whole history span when never), from ``section_daily_lows`` rows; 0 when the
    section has no history or was as cheap yesterday."""
    n = len(price)
    out = np.zeros(n, dtype=np.float64)
    if lows.num_rows == 0 or n == 0:
        return out
    day = _np(pc.cast(lows["day"], pa.int32())).astype(np.int64)
    now_day = int(day.max()) + 1 if today is None else int(today.timestamp() // _DAY)
    lk = pc.binary_join_element_wise(lows["event_key"].cast(pa.string()),
                                     lows["section"].cast(pa.string()), "\x1f")
    g, labels = _groups(lk)
    val = _np(lows["low_cents"]).astype(np.int64)
    order = np.lexsort((-day, g))  # by group, most recent day first
    g, day, val = g[order], day[order], val[order]
    gmax = int(g.max()) + 1
    runmin = np.minimum.accumulate(val + (gmax - g) * _BIG) - (gmax - g) * _BIG
    start = np.searchsorted(g, np.arange(gmax), side="left")
    end = np.searchsorted(g, np.arange(gmax), side="right")
    first_day = np.minimum.reduceat(day, start) if len(start) else day
    combined = g * (2 * _BIG) + (_BIG - runmin)  # ascending within each group

    key = pc.binary_join_element_wise(event_key.cast(pa.string()),
                                      pc.utf8_upper(section.cast(pa.string())), "\x1f")
    gi = _np(pc.index_in(key, value_set=pa.array(labels, pa.string())).fill_null(-1))
    has = (gi >= 0) & (price > 0)
    gq = np.where(has, gi, 0).astype(np.int64)
    q = gq * (2 * _BIG) + (_BIG - np.asarray(price, dtype=np.int64))
    count = np.searchsorted(combined, q, side="left") - start[gq]
    never = count >= (end[gq] - start[gq])
    idx = np.clip(start[gq] + count, 0, len(day) - 1)
    days = np.where(never, now_day - first_day[gq], now_day - day[idx] - 1)
    out[has] = np.maximum(days[has], 0)
    return out
