"""Engineer and client app endpoints."""
