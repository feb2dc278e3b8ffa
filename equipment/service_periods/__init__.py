"""Service periods and planned-maintenance generation."""
