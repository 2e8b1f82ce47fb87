"""Benchmarks behind `utskick bench`; figures are recorded in docs/performance.md."""
