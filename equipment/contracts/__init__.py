"""Service contracts and what they cover."""
