"""Engineers."""
