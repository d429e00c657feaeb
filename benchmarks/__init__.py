"""Benchmarks: each ``*_bench.py`` module has ``main() -> dict`` that measures, prints a
table and writes ``benchmarks/results/<name>.json`` (metric name -> number)."""
