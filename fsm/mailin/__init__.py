"""Email as a request channel: the inbound SMTP endpoint and the mail held for a dispatcher."""
