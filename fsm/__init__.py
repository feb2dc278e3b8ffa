"""fieldline: a field service management backend (core domain and web app)."""
