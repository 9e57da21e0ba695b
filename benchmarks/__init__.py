"""Throughput benchmarks: ``python -m benchmarks`` (``make bench``). Prints medians, never asserts on time."""
