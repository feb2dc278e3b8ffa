"""The engineer app: today's route, visit detail, field status, checklist, offline sync."""
