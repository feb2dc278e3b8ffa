"""Tests on committed data: the outbox, webhooks and live streams (several processes)."""
