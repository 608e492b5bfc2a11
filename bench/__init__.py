"""Benchmarks for the qa tool (``python -m bench.scale``); not part of the installed package."""
