"""Benchmarks behind ``manage.py bench``: fleet, refresh, ingest and pages (docs/benchmarks.md).

Each benchmark prints progress, then its figures as one JSON object on the last line.
"""
