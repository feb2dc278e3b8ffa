"""Signed webhooks: endpoints admins register per event type, and their delivery log."""
