"""Benchmarks: commands that print figures; they never fail tests."""
