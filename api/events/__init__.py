"""Events: search, one event with its prices and trend, refresh requests for the engine."""
