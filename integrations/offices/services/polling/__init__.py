"""Polling, in data-path order: sweep (which offices are due) -> dispatch (the run row and its
task, sent by name) -> runs (claim, heartbeat, finish) -> execute (one run) or batch (many daily
aging runs on one event loop), both following aging.recipe -> outcomes (what a run's end means
for the office)."""
