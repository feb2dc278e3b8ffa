"""Service-level agreements: business calendars and the SLA clock."""
