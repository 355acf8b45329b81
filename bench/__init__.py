"""Benchmarks (not timed tests): `python -m bench.meta_gradient`."""
