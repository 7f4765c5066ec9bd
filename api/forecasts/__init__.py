"""Buy-or-wait forecasts and their public track record."""
