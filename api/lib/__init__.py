"""Shared machinery of the API: errors, auth, rate limits, caching, pagination, metrics."""
