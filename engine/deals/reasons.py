"""One-line reasons a person can read, built column-wise with Arrow string kernels.

"$84 (31 %) below similar seats in Section 112 · lowest all-in price in this section for
14 days". The numbers in the text are the same numbers stored beside it (rounded to whole
dollars and percent), so the reason always matches the score's inputs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SEP = " · "


def _txt(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def deal_reasons(
    fair_cents: np.ndarray,
    total_cents: np.ndarray,
    section: pa.Array,
    section_low_days: np.ndarray | None = None,
    lowest_now: np.ndarray | None = None,
) -> pa.Array:
    """Reason text per listing.

    Args:
        fair_cents: fair all-in value per ticket (integer cents).
        total_cents: the listing's all-in price per ticket.
        section: section names as shown to people.
        section_low_days: per listing, for how many days no lower all-in price was seen in
            its section (0 or NaN: not a low).
        lowest_now: per listing, True when it is the cheapest of several listings in its
            section right now.
    """
    diff = fair_cents.astype(np.int64) - total_cents.astype(np.int64)
    dollars = np.rint(np.abs(diff) / 100.0).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.rint(np.abs(diff) / np.maximum(fair_cents, 1) * 100.0).astype(np.int64)
    where = pc.binary_join_element_wise(pa.scalar("Section "), section.cast(pa.string()), "")
    # the amounts end at " %) ": ``storage.scores`` compares a re-scored reason past that
    # mark (the amounts follow the fair value, compared on its own); another layout would
    # only make it compare the whole text
    head = _join("$", _txt(dollars), " (", _txt(pct), " %) ",
                 pc.if_else(pa.array(diff >= 0), "below", "above"),
                 " similar seats in ", where)
    head = pc.if_else(pa.array((dollars == 0) | (pct == 0)),
                      _join("priced like similar seats in ", where), head)
    head = pc.if_else(pa.array(total_cents <= 0), "no all-in price to compare", head)

    tail = pa.nulls(len(diff), pa.string())
    if lowest_now is not None:
        tail = pc.if_else(pa.array(lowest_now), _SEP + "lowest all-in price in this section now",
                          tail)
    if section_low_days is not None:
        days = np.nan_to_num(section_low_days, nan=0.0).astype(np.int64)
        # Arrow picks the words (a NumPy array of strings costs a conversion per row)
        unit = pc.if_else(pa.array(days == 1), " day", " days")
        text = _join(_SEP + "lowest all-in price in this section for ", _txt(days), unit)
        tail = pc.if_else(pa.array(days >= 1), text, tail)
    return pc.binary_join_element_wise(head, pc.fill_null(tail, ""), "")
