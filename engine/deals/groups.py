"""Group-wise numpy kernels over rows labelled by group codes: ranks, lowest prices and
leave-one-out medians, each one sort and a few gathers (no Python loop per group or row).
"""

from __future__ import annotations

import numpy as np


def sorted_groups(groups: np.ndarray, key: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by (group, key): the order, where each group starts in it, and each
    sorted row's group start."""
    n = len(groups)
    order = np.lexsort((key, groups))
    g = groups[order]
    start = np.ones(n, dtype=bool)
    start[1:] = g[1:] != g[:-1]
    pos = np.flatnonzero(start)
    first = np.repeat(pos, np.diff(np.append(pos, n)))
    return order, pos, first


def within_group_rank(groups: np.ndarray, score: np.ndarray) -> np.ndarray:
    """1-based rank of each row's score within its group, best (highest) first; NaN last.
    Ties are broken by row position only through the sort's stability, which is why callers
    compare ranks of distinct scores, not of ties."""
    n = len(score)
    order, _, first = sorted_groups(groups, np.where(np.isnan(score), np.inf, -score))
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n) - first + 1
    return rank


def lowest_in_group(groups: np.ndarray, price: np.ndarray) -> np.ndarray:
    """True where a listing is the cheapest of at least two priced listings of its group."""
    if len(price) == 0:
        return np.zeros(0, dtype=bool)
    p = np.where(price > 0, price, np.iinfo(np.int64).max)
    size = int(groups.max()) + 1
    low = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(low, groups, p)
    count = np.bincount(groups[price > 0], minlength=size)
    return (price > 0) & (p == low[groups]) & (count[groups] >= 2)


def loo_median(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the median of the *other* finite values in its group, and their count.

    Vectorised: sort by (group, value); removing rank r from a sorted group of n values
    shifts every index at or past r by one, so the median is two gathers.
    """
    n_rows = len(values)
    finite = np.isfinite(values)
    filled = np.where(finite, values, np.inf)
    order, start_pos, group_start = sorted_groups(groups, filled)
    valid_sorted = finite[order]
    n_valid = np.add.reduceat(valid_sorted.astype(np.int64), start_pos) if n_rows else \
        np.zeros(0, dtype=np.int64)
    n_valid_row = np.repeat(n_valid, np.diff(np.append(start_pos, n_rows)))
    rank = np.arange(n_rows) - group_start
    removed = valid_sorted.astype(np.int64)
    m = n_valid_row - removed
    r = np.where(valid_sorted, rank, n_valid_row)  # invalid rows remove nothing
    sorted_vals = filled[order]

    def at(j: np.ndarray) -> np.ndarray:
        jj = np.where(j < r, j, j + 1)
        return sorted_vals[np.clip(group_start + jj, 0, max(n_rows - 1, 0))]

    lo = at(np.maximum((m - 1) // 2, 0))
    hi = at(np.maximum(m // 2, 0))
    med_sorted = np.where(m % 2 == 1, lo, (lo + hi) / 2.0)
    med_sorted = np.where(m > 0, med_sorted, np.nan)
    med, cnt = np.empty(n_rows), np.empty(n_rows, dtype=np.int64)
    med[order], cnt[order] = med_sorted, m
    return med, cnt
