"""Deals: the best-scored current listings, for everyone or in the caller's watched events."""
