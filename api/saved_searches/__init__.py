"""Saved searches: any event search kept with a name, what is new since last looked, alerts."""
