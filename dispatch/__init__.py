"""Dispatch: plans engineers' days with OR-Tools."""
