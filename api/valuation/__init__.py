"""Fair prices of any seat: the published fair-price model, with interval and comparables."""
