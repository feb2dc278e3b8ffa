"""Visits: the dispatchable on-site appointments of a work order."""
