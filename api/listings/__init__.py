"""Listings: the current listings of one event, filtered and paged; the public listing shape."""
