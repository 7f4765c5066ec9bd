"""Recommendations: the caller's picks with a reason each, or the popular events of a city."""
