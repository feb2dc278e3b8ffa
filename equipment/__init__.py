"""Equipment, contracts and service periods."""
