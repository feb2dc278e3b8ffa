"""The routing solver core: plain data in, plain data out (no ORM, no web)."""
