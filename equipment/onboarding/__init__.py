"""Onboarding: a company's base (clients, sites, units, contracts, engineers) from spreadsheets."""
