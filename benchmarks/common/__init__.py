"""What the benchmarks share: the load generators, the systems under test, the report."""
