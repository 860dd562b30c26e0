"""Benchmarks behind ``manage.py bench``: fleet (aging refresh of a whole fleet), ingest.

Each benchmark prints progress, then its figures as one JSON object on the last line.
"""
