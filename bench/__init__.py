"""Benchmarks of the product: `python -m bench` (or `make bench`) runs them all."""
