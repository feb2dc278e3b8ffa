"""Equipment models and installed equipment."""
