"""Work orders: requests, their SLA clocks, timeline, comments and custom fields."""
