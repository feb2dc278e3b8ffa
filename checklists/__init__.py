"""Checklist templates and runs."""
