"""Solver and dispatch tests."""
