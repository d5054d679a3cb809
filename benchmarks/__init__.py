"""Benchmarks: scripts run as `python -m benchmarks.NAME` from the repository root, each printing a table and writing
its JSON under benchmarks/results/. They compose the package's public functions and hold no copy of its logic."""
