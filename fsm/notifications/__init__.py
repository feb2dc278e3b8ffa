"""Telling people: who is told of which outbox event, their preferences, and mail out."""
