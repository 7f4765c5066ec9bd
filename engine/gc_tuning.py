"""Python's garbage collector tuned for the actors that move listings in bulk.

A crawl worker decodes each marketplace page (100-500 listings) into some thousands of
dicts and lists that live until the page is parsed. With the default thresholds (a young
collection every 700 net container allocations) every page set off several collections,
which promoted the page's objects to the older generations and so brought on full
collections over the whole heap (Scrapy, Twisted, Arrow, Ray): the decoder's time grew
four-fold and the crawler's CPU per listing by 40 % (``bench.crawl``: 32 -> 19 us).

Reference counting still frees almost everything the moment it is dropped; the collector
only finds cycles, which are rare here, so collecting less often costs little memory.
Objects alive at start-up (modules, classes, settings) are frozen out of every collection.
"""

from __future__ import annotations

import gc

#: young-generation threshold: net container allocations between collections (default 700)
YOUNG = 100_000
#: how many young (resp. middle) collections between middle (resp. full) ones (default 10,
#: 10): a full collection still comes every 200 young ones, so cycles that reach the oldest
#: generation (Twisted's failures, for one) do not pile up over a long ``ripcity run``
MIDDLE, OLD = 20, 10


def tune_for_bulk_data() -> None:
    """Collect rarely and leave what exists now (imports, start-up state) out of it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
