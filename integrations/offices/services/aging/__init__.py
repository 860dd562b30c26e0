"""Aging: recipe (Open Dental's recipe, once, for both polling engines) and snapshots (rows
written safely: COPY, totals, the current snapshot)."""
