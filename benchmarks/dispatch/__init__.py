"""Dispatch solver benchmarks: Solomon VRPTW and generated field-service days."""
