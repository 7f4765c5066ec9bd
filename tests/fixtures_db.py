"""Database fixtures (owned by the storage layer)."""
