"""Query services: the SQL the API runs, mapped to typed rows (no HTTP knowledge here)."""
