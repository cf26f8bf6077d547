"""Local HTTP emulators of the invoice sources, for the demo, the tests and the benchmarks."""
