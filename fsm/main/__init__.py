"""The application shell: the one place that assembles every package into the product."""
